import type { Metadata } from "next";
import { CompliancePage } from "@/components/pages/compliance";

export const metadata: Metadata = { title: "Compliance" };

export default function Page() {
  return <CompliancePage />;
}
