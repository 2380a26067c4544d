import type { Metadata } from "next";
import { InvitationView } from "@/components/auth/invitation";
import { db } from "@/server/db";
import { getSession } from "@/server/auth";
import { pendingInvitationByToken } from "@/server/services/members";

// The token is in the path: never send it on as a Referer.
export const metadata: Metadata = { title: "Invitation", referrer: "no-referrer" };
export const dynamic = "force-dynamic";

export default async function InvitationPage({ params }: { params: Promise<{ token: string }> }) {
  const { token } = await params;
  const [invitation, session] = await Promise.all([pendingInvitationByToken(token), getSession()]);
  const user = session?.user?.id ? await db.user.findUnique({ where: { id: session.user.id }, select: { email: true } }) : null;
  return (
    <InvitationView
      token={token}
      invitation={invitation && { email: invitation.email, role: invitation.role, orgName: invitation.org.name, invitedBy: invitation.invitedBy.name, expiresAt: invitation.expiresAt.toISOString() }}
      signedInAs={user?.email ?? null}
    />
  );
}
