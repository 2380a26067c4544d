import type { Metadata } from "next";
import { QuotasPage } from "@/components/pages/quotas";

export const metadata: Metadata = { title: "Quotas" };

export default function Page() {
  return <QuotasPage />;
}
