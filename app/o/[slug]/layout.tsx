import type { ReactNode } from "react";
import { ConsoleShell } from "@/components/shell/console-shell";
import { requireOrgMembership } from "@/server/page-access";

export const dynamic = "force-dynamic";

export default async function OrgLayout({ children, params }: { children: ReactNode; params: Promise<{ slug: string }> }) {
  const { slug } = await params;
  // Not a member (or no such organisation): app/not-found.tsx with a 404.
  const { org, role } = await requireOrgMembership(slug);
  return (
    <ConsoleShell orgSlug={slug} initialOrg={{ ...org, role }}>
      {children}
    </ConsoleShell>
  );
}
