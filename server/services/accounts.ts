import { db, type Tx } from "../db";
import { DomainError, badRequest, conflict, isUniqueViolation, type DomainErrorCode } from "../errors";
import { hashPassword, hashToken, newToken, passwordProblem, tokenPattern, verifyPassword } from "../passwords";
import { recordAudit, systemActor, type Actor } from "./audit";
import { acceptInvitationInTx, invitationLinkInvalid, normaliseEmail, pendingInvitationByToken } from "./members";
import { createOrganizationInTx } from "./organizations";

/**
 * Sign-in throttling, per client address and per account at that address, over a fixed window:
 * failures from one address cannot lock the account's owner out elsewhere. A successful sign-in
 * gives its slots back (and clears the account's count at that address).
 */
export const LOGIN_LIMITS = { windowMinutes: 15, failuresPerAccountAndIp: 5, failuresPerIp: 30 } as const;
/** Sign-ups (with or without an invitation) per client address. */
export const SIGNUP_LIMITS = { windowMinutes: 60, perIp: 20 } as const;

/** A refused sign-in; `reason` is a stable code the sign-in page maps to its message (OIDC redirects carry only it). */
export class SignInRefused extends DomainError {
  constructor(
    code: DomainErrorCode,
    message: string,
    readonly reason?: "OidcEmailNotVerified" | "OidcAlreadyLinked",
  ) {
    super(code, message);
  }
}

// ─── Throttling: one conditional UPSERT per counter ─────────────────────────────────────────────

interface Slot {
  key: string;
  windowStart: string;
}

/**
 * Takes one unit of `key`'s allowance, or returns null when `limit` units are already taken in the
 * current window. One statement: PostgreSQL locks the counter's row and re-checks the WHERE clause
 * against the latest committed version, so concurrent callers can never take more than `limit`.
 * Times are UTC (`timestamp(3)` columns, as Prisma writes them).
 */
async function takeSlot(key: string, limit: number, windowMinutes: number): Promise<Slot | null> {
  const rows = await db.$queryRaw<{ windowStart: string }[]>`
    INSERT INTO "AuthThrottle" AS t ("key", "count", "windowStart")
    VALUES (${key}, 1, now() AT TIME ZONE 'UTC')
    ON CONFLICT ("key") DO UPDATE SET
      "count" = CASE WHEN t."windowStart" <= (now() AT TIME ZONE 'UTC') - make_interval(mins => ${windowMinutes}::int) THEN 1 ELSE t."count" + 1 END,
      "windowStart" = CASE WHEN t."windowStart" <= (now() AT TIME ZONE 'UTC') - make_interval(mins => ${windowMinutes}::int) THEN now() AT TIME ZONE 'UTC' ELSE t."windowStart" END
    WHERE t."windowStart" <= (now() AT TIME ZONE 'UTC') - make_interval(mins => ${windowMinutes}::int) OR t."count" < ${limit}::int
    RETURNING t."windowStart"::text AS "windowStart"`;
  return rows[0] ? { key, windowStart: rows[0].windowStart } : null;
}

/** Gives a unit back, if its window is still the current one. */
async function giveBack(slot: Slot) {
  await db.$executeRaw`
    UPDATE "AuthThrottle" SET "count" = "count" - 1
    WHERE "key" = ${slot.key} AND "windowStart" = ${slot.windowStart}::timestamp(3) AND "count" > 0`;
}

async function clearSlot(slot: Slot) {
  await db.$executeRaw`DELETE FROM "AuthThrottle" WHERE "key" = ${slot.key} AND "windowStart" = ${slot.windowStart}::timestamp(3)`;
}

/** Refuses a sign-up from an address that made too many; without a known address there is nothing to count. */
async function throttleSignUp(ip: string | null) {
  if (!ip) return;
  if (!(await takeSlot(`signup-ip:${ip}`, SIGNUP_LIMITS.perIp, SIGNUP_LIMITS.windowMinutes))) {
    throw new DomainError("TOO_MANY_REQUESTS", "Too many accounts were created from your network recently. Try again in an hour.");
  }
}

// ─── Sign-up ────────────────────────────────────────────────────────────────────────────────────

const EMAIL_TAKEN = "An account with this email already exists; sign in instead";

export async function signUp(input: { name: string; email: string; password: string; organizationName: string }, meta: { ip: string | null; requestId: string }) {
  const email = normaliseEmail(input.email);
  await throttleSignUp(meta.ip);
  if (await db.user.findUnique({ where: { email }, select: { id: true } })) throw conflict(EMAIL_TAKEN, "email");
  const passwordHash = await hashPassword(input.password);
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.$transaction(async (tx) => {
        const user = await tx.user.create({ data: { email, name: input.name, passwordHash } });
        const actor: Actor = { type: "USER", id: user.id, label: email, ip: meta.ip, requestId: meta.requestId };
        const org = await createOrganizationInTx(tx, actor, { name: input.organizationName, ownerId: user.id });
        await recordAudit(tx, actor, { orgId: org.id, action: "user.signed_up", targetType: "User", targetId: user.id, after: { email, name: input.name } });
        return { userId: user.id, org: { id: org.id, slug: org.slug, name: org.name } };
      });
    } catch (error) {
      if (!isUniqueViolation(error)) throw error;
      if (await db.user.findUnique({ where: { email }, select: { id: true } })) throw conflict(EMAIL_TAKEN, "email");
      // Another sign-up took the same organisation slug at the same moment: the next try gets a suffix.
      if (attempt === 3) throw error;
    }
  }
}

/**
 * Creates an account through an invitation's link and joins its organisation (no organisation of
 * one's own). The token is what proves the invitation reached this person; the email they choose
 * is recorded next to the address the invitation was sent to.
 */
export async function signUpWithInvitation(input: { name: string; email: string; password: string; token: string }, meta: { ip: string | null; requestId: string }) {
  const email = normaliseEmail(input.email);
  await throttleSignUp(meta.ip);
  if (!(await pendingInvitationByToken(input.token))) throw invitationLinkInvalid();
  if (await db.user.findUnique({ where: { email }, select: { id: true } })) throw conflict(EMAIL_TAKEN, "email");
  const passwordHash = await hashPassword(input.password);
  try {
    return await db.$transaction(async (tx) => {
      const user = await tx.user.create({ data: { email, name: input.name, passwordHash } });
      const actor: Actor = { type: "USER", id: user.id, label: email, ip: meta.ip, requestId: meta.requestId };
      const org = await acceptInvitationInTx(tx, actor, { userId: user.id, email }, input.token, { signedUp: true });
      if (!org) throw invitationLinkInvalid();
      return { userId: user.id, org };
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(EMAIL_TAKEN, "email");
    throw error;
  }
}

// ─── Password sign-in ───────────────────────────────────────────────────────────────────────────

const tooManyFailures = () => new SignInRefused("TOO_MANY_REQUESTS", `Too many failed sign-in attempts. Try again in ${LOGIN_LIMITS.windowMinutes} minutes.`);

/**
 * Checks a password sign-in. Before the password is checked, the attempt takes a slot from its
 * address's allowance and from the account's allowance at that address (one atomic UPSERT each);
 * with either exhausted it is refused unchecked. Every attempt is recorded.
 */
export async function authenticateWithPassword(input: { email: string; password: string; ip: string | null }) {
  const email = normaliseEmail(input.email);
  const { windowMinutes } = LOGIN_LIMITS;
  const ipSlot = input.ip ? await takeSlot(`signin-ip:${input.ip}`, LOGIN_LIMITS.failuresPerIp, windowMinutes) : null;
  if (input.ip && !ipSlot) {
    await db.loginAttempt.create({ data: { email, ip: input.ip, success: false } });
    throw tooManyFailures();
  }
  // Without a known address (no trusted client IP), the account's allowance is shared by all.
  const accountSlot = await takeSlot(`signin-account-ip:${email}|${input.ip ?? "unknown"}`, LOGIN_LIMITS.failuresPerAccountAndIp, windowMinutes);
  if (!accountSlot) {
    if (ipSlot) await giveBack(ipSlot);
    await db.loginAttempt.create({ data: { email, ip: input.ip, success: false } });
    throw tooManyFailures();
  }
  const user = await db.user.findUnique({ where: { email } });
  // Verify against a real hash even for unknown emails, so timing does not reveal which accounts exist.
  const ok = user?.passwordHash ? await verifyPassword(user.passwordHash, input.password) : (await verifyPassword(DUMMY_HASH, input.password), false);
  await db.loginAttempt.create({ data: { email, ip: input.ip, success: ok } });
  if (!ok || !user) throw new SignInRefused("UNAUTHORIZED", "Wrong email or password");
  await Promise.all([clearSlot(accountSlot), ipSlot ? giveBack(ipSlot) : null]);
  await db.user.update({ where: { id: user.id }, data: { lastSignInAt: new Date() } });
  return { id: user.id, email: user.email, name: user.name };
}

// argon2id hash of a random string nobody knows.
const DUMMY_HASH = "$argon2id$v=19$m=19456,t=2,p=1$IdiNBQbBVhYFTdUPH5G5xw$+8dvRZ9NsIkzbvu8exPPg94/cyliEyBwyLu/7cORYhw";

// ─── OpenID Connect ─────────────────────────────────────────────────────────────────────────────

/**
 * First sign-in through the OIDC provider creates the user; later ones find it by subject. An
 * identity is linked to an existing account of the same email only when the provider asserts
 * `email_verified`, and the link is recorded in the platform's audit chain.
 */
export async function upsertOidcUser(input: { subject: string; email: string; name: string; emailVerified: boolean }) {
  const email = normaliseEmail(input.email);
  const bySubject = await db.user.findUnique({ where: { oidcSubject: input.subject } });
  if (bySubject) return db.user.update({ where: { id: bySubject.id }, data: { lastSignInAt: new Date() } });
  const actor = (user: { id: string }): Actor => ({ type: "USER", id: user.id, label: email });
  try {
    return await db.$transaction(async (tx) => {
      const byEmail = await tx.user.findUnique({ where: { email } });
      if (byEmail) {
        if (!input.emailVerified) {
          throw new SignInRefused(
            "FORBIDDEN",
            "An account with this email already exists, and your identity provider does not confirm that the address is verified, so it cannot be linked. Sign in with your password, or ask your provider to verify your email address.",
            "OidcEmailNotVerified",
          );
        }
        if (byEmail.oidcSubject) {
          throw new SignInRefused("FORBIDDEN", "This account is already linked to another identity at your provider. Ask a platform administrator.", "OidcAlreadyLinked");
        }
        const linked = await tx.user.update({ where: { id: byEmail.id }, data: { oidcSubject: input.subject, lastSignInAt: new Date() } });
        await recordAudit(tx, actor(linked), { orgId: null, action: "user.oidc_linked", targetType: "User", targetId: linked.id, after: { email, subject: input.subject, emailVerified: true } });
        return linked;
      }
      const created = await tx.user.create({ data: { email, name: input.name || email, oidcSubject: input.subject, lastSignInAt: new Date() } });
      await recordAudit(tx, actor(created), { orgId: null, action: "user.signed_up_oidc", targetType: "User", targetId: created.id, after: { email, subject: input.subject, emailVerified: input.emailVerified } });
      return created;
    });
  } catch (error) {
    // A concurrent first sign-in of the same identity won: use its row.
    if (isUniqueViolation(error)) {
      const again = await db.user.findUnique({ where: { oidcSubject: input.subject } });
      if (again) return again;
    }
    throw error;
  }
}

// ─── One-time sign-in links (bootstrap of the first platform admin) ─────────────────────────────

export const SIGN_IN_LINK_TTL_MINUTES = 60;

/**
 * `npm run admin:create`: makes `email` a platform admin (creating the account if needed) and
 * returns a one-time sign-in token, valid `ttlMinutes`; earlier unused links of that person stop
 * working. Only the token's hash is stored; the audit trail records the grant, never the token.
 */
export async function createPlatformAdminSignInLink(input: { email: string; name?: string; ttlMinutes?: number }, actor: Actor = systemActor("admin:create")) {
  const email = normaliseEmail(input.email);
  const ttlMinutes = input.ttlMinutes ?? SIGN_IN_LINK_TTL_MINUTES;
  const { token, tokenHash } = newToken("sil");
  const expiresAt = new Date(Date.now() + ttlMinutes * 60_000);
  return db.$transaction(async (tx) => {
    let user = await tx.user.findUnique({ where: { email } });
    const created = !user;
    if (!user) {
      user = await tx.user.create({ data: { email, name: input.name?.trim() || email.split("@")[0]!, platformAdmin: true } });
      await recordAudit(tx, actor, { orgId: null, action: "user.created", targetType: "User", targetId: user.id, after: { email, platformAdmin: true } });
    } else if (!user.platformAdmin) {
      user = await tx.user.update({ where: { id: user.id }, data: { platformAdmin: true } });
      await recordAudit(tx, actor, { orgId: null, action: "user.platform_admin_granted", targetType: "User", targetId: user.id, before: { platformAdmin: false }, after: { platformAdmin: true } });
    }
    await tx.signInToken.updateMany({ where: { userId: user.id, usedAt: null }, data: { expiresAt: new Date() } });
    const row = await tx.signInToken.create({ data: { userId: user.id, tokenHash, purpose: "bootstrap-admin", expiresAt } });
    await recordAudit(tx, actor, { orgId: null, action: "user.sign_in_link_created", targetType: "User", targetId: user.id, after: { email, linkId: row.id, expiresAt: expiresAt.toISOString() } });
    return { token, expiresAt, created, user: { id: user.id, email: user.email } };
  });
}

const linkInvalid = () => new SignInRefused("UNAUTHORIZED", "This sign-in link is not valid: it was already used or it expired. Ask for a new one (npm run admin:create).");

/**
 * Consumes a one-time sign-in link (one conditional UPDATE: two visits cannot both succeed) and
 * optionally sets the person's password, which must meet the password policy.
 */
export async function signInWithLink(input: { token: string; newPassword?: string | null }, meta: { ip: string | null; requestId?: string }) {
  if (!tokenPattern("sil").test(input.token)) throw linkInvalid();
  const newPassword = input.newPassword || null;
  if (newPassword) {
    const problem = passwordProblem(newPassword);
    if (problem) throw badRequest(problem, "password");
  }
  const passwordHash = newPassword ? await hashPassword(newPassword) : null;
  const tokenHash = hashToken(input.token);
  return db.$transaction(async (tx: Tx) => {
    const used = await tx.signInToken.updateMany({ where: { tokenHash, usedAt: null, expiresAt: { gt: new Date() } }, data: { usedAt: new Date() } });
    if (used.count !== 1) throw linkInvalid();
    const link = await tx.signInToken.findUniqueOrThrow({ where: { tokenHash }, select: { id: true, userId: true } });
    const user = await tx.user.update({ where: { id: link.userId }, data: { lastSignInAt: new Date(), ...(passwordHash ? { passwordHash } : {}) } });
    const actor: Actor = { type: "USER", id: user.id, label: user.email, ip: meta.ip, requestId: meta.requestId };
    await recordAudit(tx, actor, { orgId: null, action: "user.signed_in_with_link", targetType: "User", targetId: user.id, after: { linkId: link.id, passwordSet: Boolean(passwordHash) } });
    return { id: user.id, email: user.email, name: user.name };
  });
}

/** Whether any platform admin exists (the start command says how to create the first one). */
export async function platformAdminExists(client: Pick<Tx, "user"> = db): Promise<boolean> {
  return (await client.user.count({ where: { platformAdmin: true } })) > 0;
}

