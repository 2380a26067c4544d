import type { Metadata } from "next";
import { ComplianceDashboard } from "@/components/compliance/dashboard";

export const metadata: Metadata = { title: "Compliance" };

export default function Page() {
  return <ComplianceDashboard />;
}
