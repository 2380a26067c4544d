import type { Metadata } from "next";
import { AdminDashboardPage } from "@/components/admin/dashboard";

export const metadata: Metadata = { title: "Dashboard · Admin" };

export default function Page() {
  return <AdminDashboardPage />;
}
