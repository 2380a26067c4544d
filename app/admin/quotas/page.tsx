import type { Metadata } from "next";
import { AdminQuotasPage } from "@/components/admin/quotas";

export const metadata: Metadata = { title: "Quotas & requests · Admin" };

export default function Page() {
  return <AdminQuotasPage />;
}
