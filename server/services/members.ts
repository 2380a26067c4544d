import { db, type Tx } from "../db";
import { conflict, forbidden, notFound, preconditionFailed } from "../errors";
import type { OrgRole } from "../generated/prisma/enums";
import { roleAtLeast } from "../roles";
import { recordAudit, type Actor } from "./audit";

const INVITATION_TTL_DAYS = 14;

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

export function listMembers(orgId: string) {
  return Promise.all([
    db.membership.findMany({
      where: { orgId },
      orderBy: [{ createdAt: "asc" }],
      select: { id: true, role: true, createdAt: true, user: { select: { id: true, name: true, email: true } } },
    }),
    db.invitation.findMany({
      where: { orgId, status: "PENDING", expiresAt: { gt: new Date() } },
      orderBy: { createdAt: "desc" },
      select: { id: true, email: true, role: true, createdAt: true, expiresAt: true, invitedBy: { select: { name: true } } },
    }),
  ]).then(([members, invitations]) => ({ members, invitations }));
}

/** Only an owner may hand out or take away the owner role. */
function assertMayAssign(actorRole: OrgRole, role: OrgRole) {
  if (role === "OWNER" && actorRole !== "OWNER") throw forbidden("Only an owner can make someone an owner");
}

async function assertNotLastOwner(tx: Tx, orgId: string, membershipId: string, what: string) {
  // Lock the owners' rows so two concurrent demotions cannot both pass the check.
  const owners = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "Membership" WHERE "orgId" = ${orgId} AND role = 'OWNER' FOR UPDATE`;
  if (owners.length === 1 && owners[0].id === membershipId) {
    throw preconditionFailed(`${what}: an organisation must keep at least one owner. Make someone else an owner first.`);
  }
}

export async function inviteMember(orgId: string, actor: Actor, actorRole: OrgRole, input: { email: string; role: OrgRole }) {
  const email = normaliseEmail(input.email);
  assertMayAssign(actorRole, input.role);
  return db.$transaction(async (tx) => {
    const existingMember = await tx.membership.findFirst({ where: { orgId, user: { email } }, select: { id: true } });
    if (existingMember) throw conflict(`${email} is already a member of this organisation`, "email");
    const pending = await tx.invitation.findFirst({ where: { orgId, email, status: "PENDING", expiresAt: { gt: new Date() } }, select: { id: true } });
    if (pending) throw conflict(`${email} has already been invited; revoke that invitation to send a new one`, "email");
    const invitation = await tx.invitation.create({
      data: { orgId, email, role: input.role, invitedById: actor.id!, expiresAt: new Date(Date.now() + INVITATION_TTL_DAYS * 24 * 3600 * 1000) },
    });
    await recordAudit(tx, actor, { orgId, action: "member.invited", targetType: "Invitation", targetId: invitation.id, after: { email, role: input.role } });
    return invitation;
  });
}

export async function revokeInvitation(orgId: string, actor: Actor, input: { invitationId: string }) {
  return db.$transaction(async (tx) => {
    const invitation = await tx.invitation.findFirst({ where: { id: input.invitationId, orgId } });
    if (!invitation) throw notFound("Invitation");
    if (invitation.status !== "PENDING") throw conflict(`This invitation is already ${invitation.status.toLowerCase()}`);
    await tx.invitation.update({ where: { id: invitation.id }, data: { status: "REVOKED" } });
    await recordAudit(tx, actor, { orgId, action: "member.invitation_revoked", targetType: "Invitation", targetId: invitation.id, before: { email: invitation.email, role: invitation.role } });
  });
}

export async function changeMemberRole(orgId: string, actor: Actor, actorRole: OrgRole, input: { membershipId: string; role: OrgRole }) {
  return db.$transaction(async (tx) => {
    const membership = await tx.membership.findFirst({ where: { id: input.membershipId, orgId }, include: { user: { select: { email: true } } } });
    if (!membership) throw notFound("Member");
    if (membership.role === input.role) throw conflict(`${membership.user.email} already has this role`, "role");
    assertMayAssign(actorRole, input.role);
    if (membership.role === "OWNER") {
      assertMayAssign(actorRole, "OWNER");
      await assertNotLastOwner(tx, orgId, membership.id, "Cannot change the role of the last owner");
    }
    const updated = await tx.membership.update({ where: { id: membership.id }, data: { role: input.role } });
    await recordAudit(tx, actor, {
      orgId,
      action: "member.role_changed",
      targetType: "Membership",
      targetId: membership.id,
      before: { email: membership.user.email, role: membership.role },
      after: { email: membership.user.email, role: input.role },
    });
    return updated;
  });
}

/** Admins remove members; anyone may remove themselves (leave); nobody removes the last owner. */
export async function removeMember(orgId: string, actor: Actor & { id: string }, actorRole: OrgRole, input: { membershipId: string }) {
  return db.$transaction(async (tx) => {
    const membership = await tx.membership.findFirst({ where: { id: input.membershipId, orgId }, include: { user: { select: { email: true } } } });
    if (!membership) throw notFound("Member");
    const leaving = membership.userId === actor.id;
    if (!leaving && !roleAtLeast(actorRole, "ADMIN")) throw forbidden("Only admins and owners can remove members");
    if (membership.role === "OWNER") {
      if (!leaving) assertMayAssign(actorRole, "OWNER");
      await assertNotLastOwner(tx, orgId, membership.id, "Cannot remove the last owner");
    }
    await tx.membership.delete({ where: { id: membership.id } });
    await recordAudit(tx, actor, {
      orgId,
      action: leaving ? "member.left" : "member.removed",
      targetType: "Membership",
      targetId: membership.id,
      before: { email: membership.user.email, role: membership.role },
    });
  });
}

export function pendingInvitationsFor(email: string) {
  return db.invitation.findMany({
    where: { email: normaliseEmail(email), status: "PENDING", expiresAt: { gt: new Date() } },
    select: { id: true, role: true, createdAt: true, org: { select: { id: true, name: true, slug: true } }, invitedBy: { select: { name: true } } },
    orderBy: { createdAt: "desc" },
  });
}

/** The invitation must be addressed to the signed-in user's email; any other id is simply not found. */
export async function respondToInvitation(actor: Actor & { id: string }, user: { email: string }, input: { invitationId: string; accept: boolean }) {
  return db.$transaction(async (tx) => {
    const invitation = await tx.invitation.findFirst({
      where: { id: input.invitationId, email: normaliseEmail(user.email), status: "PENDING", expiresAt: { gt: new Date() } },
      include: { org: { select: { id: true, slug: true, name: true } } },
    });
    if (!invitation) throw notFound("Invitation");
    await tx.invitation.update({ where: { id: invitation.id }, data: { status: input.accept ? "ACCEPTED" : "REVOKED", acceptedAt: input.accept ? new Date() : null } });
    if (input.accept) {
      const already = await tx.membership.findUnique({ where: { orgId_userId: { orgId: invitation.orgId, userId: actor.id } } });
      if (!already) await tx.membership.create({ data: { orgId: invitation.orgId, userId: actor.id, role: invitation.role } });
    }
    await recordAudit(tx, actor, {
      orgId: invitation.orgId,
      action: input.accept ? "member.joined" : "member.invitation_declined",
      targetType: "Invitation",
      targetId: invitation.id,
      after: { email: invitation.email, role: invitation.role },
    });
    return invitation.org;
  });
}
