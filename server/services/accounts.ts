import { db } from "../db";
import { DomainError, conflict, isUniqueViolation } from "../errors";
import { hashPassword, verifyPassword } from "../passwords";
import { recordAudit, type Actor } from "./audit";
import { normaliseEmail } from "./members";
import { createOrganizationInTx } from "./organizations";

/** Sign-in throttling: per account and per client address, over a sliding window. */
export const LOGIN_LIMITS = { windowMinutes: 15, failuresPerEmail: 5, failuresPerIp: 30 } as const;

export async function signUp(input: { name: string; email: string; password: string; organizationName: string }, meta: { ip: string | null; requestId: string }) {
  const email = normaliseEmail(input.email);
  if (await db.user.findUnique({ where: { email }, select: { id: true } })) {
    throw conflict("An account with this email already exists; sign in instead", "email");
  }
  const passwordHash = await hashPassword(input.password);
  try {
    return await db.$transaction(async (tx) => {
      const user = await tx.user.create({ data: { email, name: input.name, passwordHash } });
      const actor: Actor = { type: "USER", id: user.id, label: email, ip: meta.ip, requestId: meta.requestId };
      const org = await createOrganizationInTx(tx, actor, { name: input.organizationName, ownerId: user.id });
      await recordAudit(tx, actor, { orgId: org.id, action: "user.signed_up", targetType: "User", targetId: user.id, after: { email, name: input.name } });
      return { userId: user.id, org: { id: org.id, slug: org.slug, name: org.name } };
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict("An account with this email already exists; sign in instead", "email");
    throw error;
  }
}

export class SignInRefused extends DomainError {}

/**
 * Checks a password sign-in. Refuses, before checking the password, an account or address with
 * too many recent failures; every attempt is recorded.
 */
export async function authenticateWithPassword(input: { email: string; password: string; ip: string | null }) {
  const email = normaliseEmail(input.email);
  const since = new Date(Date.now() - LOGIN_LIMITS.windowMinutes * 60_000);
  const [emailFailures, ipFailures] = await Promise.all([
    db.loginAttempt.count({ where: { email, success: false, createdAt: { gte: since } } }),
    input.ip ? db.loginAttempt.count({ where: { ip: input.ip, success: false, createdAt: { gte: since } } }) : Promise.resolve(0),
  ]);
  if (emailFailures >= LOGIN_LIMITS.failuresPerEmail || ipFailures >= LOGIN_LIMITS.failuresPerIp) {
    await db.loginAttempt.create({ data: { email, ip: input.ip, success: false } });
    throw new SignInRefused("TOO_MANY_REQUESTS", `Too many failed sign-in attempts. Try again in ${LOGIN_LIMITS.windowMinutes} minutes.`);
  }
  const user = await db.user.findUnique({ where: { email } });
  // Verify against a real hash even for unknown emails, so timing does not reveal which accounts exist.
  const ok = user?.passwordHash ? await verifyPassword(user.passwordHash, input.password) : (await verifyPassword(DUMMY_HASH, input.password), false);
  await db.loginAttempt.create({ data: { email, ip: input.ip, success: ok } });
  if (!ok || !user) throw new SignInRefused("UNAUTHORIZED", "Wrong email or password");
  await db.user.update({ where: { id: user.id }, data: { lastSignInAt: new Date() } });
  return { id: user.id, email: user.email, name: user.name };
}

// argon2id hash of a random string nobody knows.
const DUMMY_HASH = "$argon2id$v=19$m=19456,t=2,p=1$IdiNBQbBVhYFTdUPH5G5xw$+8dvRZ9NsIkzbvu8exPPg94/cyliEyBwyLu/7cORYhw";

/** First sign-in through the OIDC provider creates the user; later ones find it by subject, then by email. */
export async function upsertOidcUser(input: { subject: string; email: string; name: string }) {
  const email = normaliseEmail(input.email);
  const bySubject = await db.user.findUnique({ where: { oidcSubject: input.subject } });
  if (bySubject) return db.user.update({ where: { id: bySubject.id }, data: { lastSignInAt: new Date() } });
  const byEmail = await db.user.findUnique({ where: { email } });
  if (byEmail) return db.user.update({ where: { id: byEmail.id }, data: { oidcSubject: input.subject, lastSignInAt: new Date() } });
  return db.user.create({ data: { email, name: input.name || email, oidcSubject: input.subject, lastSignInAt: new Date() } });
}
