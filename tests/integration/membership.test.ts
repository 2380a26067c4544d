import { describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { addMember, callerFor, createTenant, createUser, outcome, unique } from "../helpers";

describe("members, roles and invitations", () => {
  it("an admin invites by email; the invitee signs up and joins with that role through the invitation's link", async () => {
    const t = await createTenant("invites");
    const email = `${unique("newcomer")}@example.test`;
    const { token } = await callerFor(t.admin.user.id).organization.invite({ orgId: t.org.id, email: email.toUpperCase(), role: "VIEWER" });
    const { userId } = await callerFor(null).account.signUp({ name: "Newcomer", email, password: "a long enough password", organizationName: "Newcomer's own" });
    await callerFor(userId).account.respondToInvitation({ token, accept: true });
    expect((await db.membership.findUniqueOrThrow({ where: { orgId_userId: { orgId: t.org.id, userId } } })).role).toBe("VIEWER");
    // (tests/integration/accounts-hardening.test.ts: signing up with the email alone joins nothing.)
  });

  it("refuses to invite an existing member or to invite the same email twice", async () => {
    const t = await createTenant("dup-invite");
    const memberEmail = (await db.user.findUniqueOrThrow({ where: { id: t.member.user.id } })).email;
    const owner = callerFor(t.ownerId);
    await expect(owner.organization.invite({ orgId: t.org.id, email: memberEmail, role: "MEMBER" })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("already a member") });
    await expect(owner.organization.invite({ orgId: t.org.id, email: t.invitation.email, role: "MEMBER" })).rejects.toMatchObject({ code: "CONFLICT", message: expect.stringContaining("already been invited") });
  });

  it("only an owner can create another owner", async () => {
    const t = await createTenant("owner-grant");
    await expect(callerFor(t.admin.user.id).organization.changeRole({ orgId: t.org.id, membershipId: t.member.membership.id, role: "OWNER" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect(callerFor(t.admin.user.id).organization.invite({ orgId: t.org.id, email: `${unique("o")}@example.test`, role: "OWNER" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await callerFor(t.ownerId).organization.changeRole({ orgId: t.org.id, membershipId: t.member.membership.id, role: "OWNER" });
    expect((await db.membership.findUniqueOrThrow({ where: { id: t.member.membership.id } })).role).toBe("OWNER");
  });

  it("the last owner can be neither removed, nor demoted, nor leave", async () => {
    const t = await createTenant("last-owner");
    const owner = callerFor(t.ownerId);
    await expect(owner.organization.removeMember({ orgId: t.org.id, membershipId: t.ownerMembership.id })).rejects.toMatchObject({ code: "PRECONDITION_FAILED", message: expect.stringContaining("at least one owner") });
    await expect(owner.organization.changeRole({ orgId: t.org.id, membershipId: t.ownerMembership.id, role: "ADMIN" })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
    expect((await db.membership.findUniqueOrThrow({ where: { id: t.ownerMembership.id } })).role).toBe("OWNER");
    // With a second owner, the first may step down.
    const second = await addMember(t.org.id, "OWNER");
    await owner.organization.changeRole({ orgId: t.org.id, membershipId: t.ownerMembership.id, role: "ADMIN" });
    await expect(callerFor(second.user.id).organization.removeMember({ orgId: t.org.id, membershipId: second.membership.id })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
  });

  it("two owners demoting each other at once leave exactly one owner", async () => {
    const t = await createTenant("owner-race");
    const second = await addMember(t.org.id, "OWNER");
    const results = await Promise.all([
      outcome(() => callerFor(t.ownerId).organization.changeRole({ orgId: t.org.id, membershipId: second.membership.id, role: "ADMIN" })),
      outcome(() => callerFor(second.user.id).organization.changeRole({ orgId: t.org.id, membershipId: t.ownerMembership.id, role: "ADMIN" })),
    ]);
    expect(await db.membership.count({ where: { orgId: t.org.id, role: "OWNER" } })).toBe(1);
    expect(results.filter((r) => r === "OK")).toHaveLength(1);
  });

  it("a member may leave; a member may not remove someone else", async () => {
    const t = await createTenant("leave");
    await expect(callerFor(t.member.user.id).organization.removeMember({ orgId: t.org.id, membershipId: t.viewer.membership.id })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await callerFor(t.member.user.id).organization.removeMember({ orgId: t.org.id, membershipId: t.member.membership.id });
    expect(await db.membership.findUnique({ where: { id: t.member.membership.id } })).toBeNull();
    const event = await db.auditEvent.findFirst({ where: { chain: t.org.id }, orderBy: { seq: "desc" } });
    expect(event?.action).toBe("member.left");
  });

  it("a revoked invitation can no longer be accepted", async () => {
    const t = await createTenant("revoked");
    await callerFor(t.ownerId).organization.revokeInvitation({ orgId: t.org.id, invitationId: t.invitation.id });
    const { token, id } = await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email: `${unique("late")}@example.test`, role: "MEMBER" });
    await callerFor(t.ownerId).organization.revokeInvitation({ orgId: t.org.id, invitationId: id });
    const invitee = await createUser("late");
    await expect(callerFor(invitee.id).account.respondToInvitation({ token, accept: true })).rejects.toMatchObject({ code: "NOT_FOUND" });
  });
});
