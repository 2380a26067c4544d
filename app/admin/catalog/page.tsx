import type { Metadata } from "next";
import { AdminCatalogPage } from "@/components/admin/catalog";

export const metadata: Metadata = { title: "Catalog · Admin" };

export default function Page() {
  return <AdminCatalogPage />;
}
