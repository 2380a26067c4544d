import type { Metadata } from "next";
import { AdminOrganizationsPage } from "@/components/admin/organizations";

export const metadata: Metadata = { title: "Organisations · Admin" };

export default function Page() {
  return <AdminOrganizationsPage />;
}
