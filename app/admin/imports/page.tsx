import type { Metadata } from "next";
import { AdminImportsPage } from "@/components/exports/import-page";

export const metadata: Metadata = { title: "Import · Admin" };

export default function Page() {
  return <AdminImportsPage />;
}
