import type { Metadata } from "next";
import { AdminPlatformSettingsPage } from "@/components/admin/platform-settings";

export const metadata: Metadata = { title: "Platform settings · Admin" };

export default function Page() {
  return <AdminPlatformSettingsPage />;
}
