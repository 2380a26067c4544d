import type { Metadata } from "next";
import { AdminOutboxPage } from "@/components/admin/outbox";

export const metadata: Metadata = { title: "Outbox · Admin" };

export default function Page() {
  return <AdminOutboxPage />;
}
