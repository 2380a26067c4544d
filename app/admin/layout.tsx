import type { ReactNode } from "react";
import { ConsoleShell } from "@/components/shell/console-shell";
import { requirePlatformAdmin } from "@/server/page-access";

export const dynamic = "force-dynamic";

export default async function AdminLayout({ children }: { children: ReactNode }) {
  // Others get app/forbidden.tsx with a 403.
  await requirePlatformAdmin("/admin/regions");
  return <ConsoleShell orgSlug={null}>{children}</ConsoleShell>;
}
