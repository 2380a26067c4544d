import type { ReactNode } from "react";
import { ConsoleShell } from "@/components/shell/console-shell";
import { requireUser } from "@/server/session";

export const dynamic = "force-dynamic";

export default async function OrgLayout({ children, params }: { children: ReactNode; params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  await requireUser(`/o/${slug}`);
  return <ConsoleShell orgSlug={slug}>{children}</ConsoleShell>;
}
