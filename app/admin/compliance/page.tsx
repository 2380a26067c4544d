import type { Metadata } from "next";
import { AdminCompliancePage } from "@/components/compliance/admin";

export const metadata: Metadata = { title: "Compliance · Admin" };

export default function Page() {
  return <AdminCompliancePage />;
}
