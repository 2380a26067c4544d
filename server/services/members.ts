import { db, type Tx } from "../db";
import { DomainError, conflict, forbidden, notFound, preconditionFailed } from "../errors";
import type { OrgRole } from "../generated/prisma/enums";
import { hashToken, newToken, tokenPattern } from "../passwords";
import { roleAtLeast } from "../roles";
import { recordAudit, type Actor, accountableUserId } from "./audit";
import { consoleUrl, queueMail } from "./mail";
import { invitationMail } from "./mail-templates";

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

/**
 * Invites `email` with `role`. The invitation is accepted through its own link, returned once here
 * (`token`, shown to the inviter to send on): whoever signs up with that email gains nothing. Only
 * the token's SHA-256 is stored; neither appears in the audit trail.
 */
export async function inviteMember(orgId: string, actor: Actor, actorRole: OrgRole, input: { email: string; role: OrgRole }) {
  const email = normaliseEmail(input.email);
  assertMayAssign(actorRole, input.role);
  return db.$transaction(async (tx) => {
    const existingMember = await tx.membership.findFirst({ where: { orgId, user: { email } }, select: { id: true } });
    if (existingMember) throw conflict(`${email} is already a member of this organisation`, "email");
    const pending = await tx.invitation.findFirst({ where: { orgId, email, status: "PENDING", expiresAt: { gt: new Date() } }, select: { id: true } });
    if (pending) throw conflict(`${email} has already been invited; revoke that invitation to send a new one`, "email");
    const { token, tokenHash } = newToken("inv");
    const invitation = await tx.invitation.create({
      data: { orgId, email, role: input.role, tokenHash, invitedById: accountableUserId(actor), expiresAt: new Date(Date.now() + INVITATION_TTL_DAYS * 24 * 3600 * 1000) },
      include: { org: { select: { name: true } }, invitedBy: { select: { name: true } } },
    });
    await recordAudit(tx, actor, { orgId, action: "member.invited", targetType: "Invitation", targetId: invitation.id, after: { email, role: input.role } });
    const mail = invitationMail({ orgName: invitation.org.name, inviterName: invitation.invitedBy.name, role: input.role, acceptUrl: consoleUrl(invitationPath(token)), expiresAt: invitation.expiresAt });
    await queueMail(tx, { kind: "INVITATION", orgId, to: [email], mail });
    return { id: invitation.id, email: invitation.email, role: invitation.role, expiresAt: invitation.expiresAt, token, acceptPath: invitationPath(token) };
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

export const invitationPath = (token: string) => `/invitations/${token}`;

export const invitationLinkInvalid = () =>
  new DomainError("NOT_FOUND", "This invitation link is not valid: it was already used, revoked, or it expired. Ask for a new invitation.");

const pendingByToken = (token: string) => ({ tokenHash: hashToken(token), status: "PENDING" as const, expiresAt: { gt: new Date() } });

/** What an invitation's link shows before it is accepted; null for an unknown, used, revoked or expired link. */
export async function pendingInvitationByToken(token: string) {
  if (!tokenPattern("inv").test(token)) return null;
  return db.invitation.findFirst({
    where: pendingByToken(token),
    select: { email: true, role: true, expiresAt: true, org: { select: { name: true, slug: true } }, invitedBy: { select: { name: true } } },
  });
}

/**
 * Accepts the invitation `token` names for `user`, in the caller's transaction: one conditional
 * UPDATE marks it accepted (a second use finds nothing), then the membership is created. Returns
 * the organisation, or null when the link is not (or no longer) valid.
 */
export async function acceptInvitationInTx(tx: Tx, actor: Actor, user: { userId: string; email: string }, token: string, options: { signedUp?: boolean } = {}) {
  if (!tokenPattern("inv").test(token)) return null;
  const invitation = await tx.invitation.findFirst({ where: pendingByToken(token), include: { org: { select: { id: true, slug: true, name: true } } } });
  if (!invitation) return null;
  const taken = await tx.invitation.updateMany({ where: { id: invitation.id, status: "PENDING" }, data: { status: "ACCEPTED", acceptedAt: new Date() } });
  if (taken.count !== 1) return null;
  const already = await tx.membership.findUnique({ where: { orgId_userId: { orgId: invitation.orgId, userId: user.userId } } });
  if (!already) await tx.membership.create({ data: { orgId: invitation.orgId, userId: user.userId, role: invitation.role } });
  if (options.signedUp) {
    await recordAudit(tx, actor, { orgId: invitation.orgId, action: "user.signed_up", targetType: "User", targetId: user.userId, after: { email: user.email, invitationId: invitation.id } });
  }
  await recordAudit(tx, actor, {
    orgId: invitation.orgId,
    action: "member.joined",
    targetType: "Invitation",
    targetId: invitation.id,
    after: { invitedEmail: invitation.email, email: user.email, role: already ? already.role : invitation.role, alreadyMember: Boolean(already) },
  });
  return invitation.org;
}

/** The signed-in person accepts or declines the invitation its link names; any other token is simply not found. */
export async function respondToInvitation(actor: Actor & { id: string }, user: { email: string }, input: { token: string; accept: boolean }) {
  return db.$transaction(async (tx) => {
    if (input.accept) {
      const org = await acceptInvitationInTx(tx, actor, { userId: actor.id, email: normaliseEmail(user.email) }, input.token);
      if (!org) throw invitationLinkInvalid();
      return org;
    }
    const invitation = tokenPattern("inv").test(input.token) ? await tx.invitation.findFirst({ where: pendingByToken(input.token), include: { org: { select: { id: true, slug: true, name: true } } } }) : null;
    if (!invitation) throw invitationLinkInvalid();
    const declined = await tx.invitation.updateMany({ where: { id: invitation.id, status: "PENDING" }, data: { status: "REVOKED" } });
    if (declined.count !== 1) throw invitationLinkInvalid();
    await recordAudit(tx, actor, { orgId: invitation.orgId, action: "member.invitation_declined", targetType: "Invitation", targetId: invitation.id, after: { invitedEmail: invitation.email, email: normaliseEmail(user.email), role: invitation.role } });
    return invitation.org;
  });
}
