/**
 * Issue 9, hardening 2 and 6, against the real database: accounts cannot be taken over through
 * email matching (OIDC links need `email_verified`, invitations are accepted through their own
 * token), and sign-in / sign-up throttling holds exactly under concurrency without letting an
 * attacker elsewhere lock the owner out.
 */
import { randomInt } from "node:crypto";
import { describe, expect, it } from "vitest";
import { authOptions } from "@/server/auth";
import { db } from "@/server/db";
import { hashToken } from "@/server/passwords";
import { LOGIN_LIMITS, SIGNUP_LIMITS, authenticateWithPassword, signUp, upsertOidcUser } from "@/server/services/accounts";
import { PLATFORM_CHAIN, verifyAuditChain } from "@/server/services/audit";
import { TEST_PASSWORD, callerFor, createTenant, createUser, outcome, unique } from "../helpers";

/** A fresh address per test, so counters of other tests (and runs) never mix in. */
const freshIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`;

/** Every row of `table` as text, to look for a secret in. */
async function tableText(table: string): Promise<string> {
  const [row] = await db.$queryRawUnsafe<{ text: string | null }[]>(`SELECT string_agg(t::text, '|') AS text FROM "${table}" t`);
  return row?.text ?? "";
}

const signInCallback = () => authOptions().callbacks!.signIn! as (params: unknown) => Promise<string | boolean>;

describe("OIDC: an identity links to an existing account only when the provider verified the email", () => {
  it("an unverified email does not take over the account of that email (refused, nothing linked, nothing created)", async () => {
    const victim = await createUser("oidc-victim");
    const subject = unique("attacker-sub");
    await expect(upsertOidcUser({ subject, email: victim.email.toUpperCase(), name: "Mallory", emailVerified: false })).rejects.toMatchObject({ code: "FORBIDDEN" });
    expect((await db.user.findUniqueOrThrow({ where: { id: victim.id } })).oidcSubject).toBeNull();
    expect(await db.user.findUnique({ where: { oidcSubject: subject } })).toBeNull();
  });

  it("next-auth's sign-in callback passes the provider's email_verified claim: absent or false is refused with a fixed code", async () => {
    const victim = await createUser("oidc-callback-victim");
    for (const profile of [{}, { email_verified: false }, { email_verified: "yes" }]) {
      const subject = unique("sub");
      const result = await signInCallback()({
        user: { id: subject, email: victim.email, name: "Mallory" },
        account: { provider: "oidc", type: "oauth", providerAccountId: subject },
        profile: { sub: subject, email: victim.email, ...profile },
      });
      expect(result).toBe("/signin?error=OidcEmailNotVerified");
    }
    expect((await db.user.findUniqueOrThrow({ where: { id: victim.id } })).oidcSubject).toBeNull();
  });

  it("a verified email links the identity once, and the link is in the platform's audit chain", async () => {
    const owner = await createUser("oidc-owner");
    const subject = unique("owner-sub");
    const user = { id: subject, email: owner.email, name: "Owner" };
    const result = await signInCallback()({ user, account: { provider: "oidc", type: "oauth", providerAccountId: subject }, profile: { sub: subject, email: owner.email, email_verified: true } });
    expect(result).toBe(true);
    expect(user.id).toBe(owner.id);
    expect((await db.user.findUniqueOrThrow({ where: { id: owner.id } })).oidcSubject).toBe(subject);
    const event = await db.auditEvent.findFirstOrThrow({ where: { chain: PLATFORM_CHAIN, action: "user.oidc_linked", targetId: owner.id } });
    expect(event).toMatchObject({ actorType: "USER", actorId: owner.id, targetType: "User", after: { email: owner.email, subject, emailVerified: true } });
    expect(await verifyAuditChain(db, PLATFORM_CHAIN)).toMatchObject({ ok: true });
    // Later sign-ins find it by subject; a second identity claiming the same (verified) email is refused.
    await expect(upsertOidcUser({ subject, email: owner.email, name: "Owner", emailVerified: false })).resolves.toMatchObject({ id: owner.id });
    await expect(upsertOidcUser({ subject: unique("other-sub"), email: owner.email, name: "Other", emailVerified: true })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });
});

describe("invitations are accepted through their own link, not by email", () => {
  it("whoever signs up with the invited email sees no invitation and cannot join by its id", async () => {
    const t = await createTenant("email-match");
    const email = `${unique("invitee")}@example.test`;
    const invitation = await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email, role: "ADMIN" });
    const { userId } = await signUp({ name: "Squatter", email, password: TEST_PASSWORD, organizationName: "Squatter's" }, { ip: freshIp(), requestId: unique("req") });
    const me = await callerFor(userId).account.me();
    expect(JSON.stringify(me)).not.toContain(t.org.id);
    expect(me).not.toHaveProperty("invitations");
    expect(await outcome(() => callerFor(userId).account.respondToInvitation({ invitationId: invitation.id, accept: true } as never))).not.toBe("OK");
    expect(await db.membership.count({ where: { orgId: t.org.id, userId } })).toBe(0);
  });

  it("the link is stored only as a hash, appears in no audit event, and accepts exactly once (even raced)", async () => {
    const t = await createTenant("link-once");
    const { token, acceptPath, id } = await callerFor(t.admin.user.id).organization.invite({ orgId: t.org.id, email: `${unique("colleague")}@example.test`, role: "MEMBER" });
    expect(token).toMatch(/^inv_[A-Za-z0-9_-]{43}$/);
    expect(acceptPath).toBe(`/invitations/${token}`);
    expect((await db.invitation.findUniqueOrThrow({ where: { id } })).tokenHash).toBe(hashToken(token));
    for (const table of ["Invitation", "AuditEvent"]) expect(await tableText(table)).not.toContain(token.slice(4));
    // The invited person may use any account: the link is the proof. Two racing accepts: one wins.
    const [first, second] = [await createUser("accepts-first"), await createUser("accepts-second")];
    const outcomes = await Promise.all([first, second].map((u) => outcome(() => callerFor(u.id).account.respondToInvitation({ token, accept: true }))));
    expect(outcomes.sort()).toEqual(["NOT_FOUND", "OK"]);
    expect(await db.membership.count({ where: { orgId: t.org.id, userId: { in: [first.id, second.id] } } })).toBe(1);
    const joined = await db.auditEvent.findFirstOrThrow({ where: { chain: t.org.id, action: "member.joined", targetId: id } });
    expect(joined.after).toMatchObject({ role: "MEMBER" });
  });

  it("signing up from the link joins that organisation (no organisation of one's own); a wrong or expired link creates nothing", async () => {
    const t = await createTenant("link-signup");
    const { token, id } = await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email: `${unique("newcomer")}@example.test`, role: "VIEWER" });
    const email = `${unique("newcomer-personal")}@example.test`;
    const anonymous = callerFor(null, freshIp());
    await expect(anonymous.account.signUpWithInvitation({ token: `inv_${"B".repeat(43)}`, name: "N", email, password: TEST_PASSWORD })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await db.user.findUnique({ where: { email } })).toBeNull();

    const { userId, org } = await anonymous.account.signUpWithInvitation({ token, name: "Newcomer", email, password: TEST_PASSWORD });
    expect(org.id).toBe(t.org.id);
    expect(await db.membership.findMany({ where: { userId }, select: { orgId: true, role: true } })).toEqual([{ orgId: t.org.id, role: "VIEWER" }]);
    expect((await db.invitation.findUniqueOrThrow({ where: { id } })).status).toBe("ACCEPTED");

    const expired = await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email: `${unique("late")}@example.test`, role: "VIEWER" });
    await db.invitation.update({ where: { id: expired.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    const lateEmail = `${unique("late")}@example.test`;
    await expect(anonymous.account.signUpWithInvitation({ token: expired.token, name: "Late", email: lateEmail, password: TEST_PASSWORD })).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await db.user.findUnique({ where: { email: lateEmail } })).toBeNull();
  });
});

describe("sign-in throttling: atomic, per address and per account at an address", () => {
  it(`${LOGIN_LIMITS.failuresPerAccountAndIp * 10} concurrent wrong guesses on one account from one address: exactly ${LOGIN_LIMITS.failuresPerAccountAndIp} get their password checked`, async () => {
    const victim = await createUser("race-victim");
    const ip = freshIp();
    const attempts = LOGIN_LIMITS.failuresPerAccountAndIp * 10;
    const results = await Promise.all(Array.from({ length: attempts }, (_, i) => outcome(() => authenticateWithPassword({ email: victim.email, password: `guess ${i}`, ip }))));
    expect(results.filter((r) => r === "UNAUTHORIZED")).toHaveLength(LOGIN_LIMITS.failuresPerAccountAndIp);
    expect(results.filter((r) => r === "TOO_MANY_REQUESTS")).toHaveLength(attempts - LOGIN_LIMITS.failuresPerAccountAndIp);
    // Even the right password is refused from there, now.
    expect(await outcome(() => authenticateWithPassword({ email: victim.email, password: TEST_PASSWORD, ip }))).toBe("TOO_MANY_REQUESTS");
  });

  it(`${LOGIN_LIMITS.failuresPerIp * 2} concurrent guesses from one address over as many accounts: exactly ${LOGIN_LIMITS.failuresPerIp} are checked`, async () => {
    const ip = freshIp();
    const attempts = LOGIN_LIMITS.failuresPerIp * 2;
    const results = await Promise.all(
      Array.from({ length: attempts }, (_, i) => outcome(() => authenticateWithPassword({ email: `${unique(`spray-${i}`)}@example.test`, password: "wrong password", ip }))),
    );
    expect(results.filter((r) => r === "UNAUTHORIZED")).toHaveLength(LOGIN_LIMITS.failuresPerIp);
    expect(results.filter((r) => r === "TOO_MANY_REQUESTS")).toHaveLength(attempts - LOGIN_LIMITS.failuresPerIp);
  });

  it("an attacker hammering an account from elsewhere does not lock its owner out", async () => {
    const victim = await createUser("lockout-victim");
    const attacker = freshIp();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => outcome(() => authenticateWithPassword({ email: victim.email, password: `guess ${i}`, ip: attacker }))));
    expect(results).toContain("TOO_MANY_REQUESTS");
    await expect(authenticateWithPassword({ email: victim.email, password: TEST_PASSWORD, ip: freshIp() })).resolves.toMatchObject({ id: victim.id });
  });

  it("a successful sign-in gives its slots back: the owner's own typos do not add up", async () => {
    const user = await createUser("typos");
    const ip = freshIp();
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < LOGIN_LIMITS.failuresPerAccountAndIp - 1; i++) expect(await outcome(() => authenticateWithPassword({ email: user.email, password: "typo typo typo", ip }))).toBe("UNAUTHORIZED");
      await expect(authenticateWithPassword({ email: user.email, password: TEST_PASSWORD, ip })).resolves.toMatchObject({ id: user.id });
    }
  });
});

describe("sign-up is rate-limited per address", () => {
  it(`${SIGNUP_LIMITS.perIp + 5} concurrent sign-ups from one address: exactly ${SIGNUP_LIMITS.perIp} accounts are created; another address still may`, async () => {
    const ip = freshIp();
    const emails = Array.from({ length: SIGNUP_LIMITS.perIp + 5 }, (_, i) => `${unique(`flood-${i}`)}@example.test`);
    const results = await Promise.all(
      emails.map((email) => outcome(() => callerFor(null, ip).account.signUp({ name: "Flood", email, password: TEST_PASSWORD, organizationName: "Flood" }))),
    );
    expect(results.filter((r) => r === "OK")).toHaveLength(SIGNUP_LIMITS.perIp);
    expect(results.filter((r) => r === "TOO_MANY_REQUESTS")).toHaveLength(5);
    expect(await db.user.count({ where: { email: { in: emails } } })).toBe(SIGNUP_LIMITS.perIp);
    const t = await createTenant("flood-invite");
    const { token } = await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email: `${unique("x")}@example.test`, role: "MEMBER" });
    expect(await outcome(() => callerFor(null, ip).account.signUpWithInvitation({ token, name: "X", email: `${unique("x")}@example.test`, password: TEST_PASSWORD }))).toBe("TOO_MANY_REQUESTS");
    expect(await outcome(() => callerFor(null, freshIp()).account.signUp({ name: "Other", email: `${unique("other")}@example.test`, password: TEST_PASSWORD, organizationName: "Other" }))).toBe("OK");
  });
});
