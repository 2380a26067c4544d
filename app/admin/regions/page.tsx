import type { Metadata } from "next";
import { AdminRegionsPage } from "@/components/admin/regions";

export const metadata: Metadata = { title: "Regions · Admin" };

export default function Page() {
  return <AdminRegionsPage />;
}
