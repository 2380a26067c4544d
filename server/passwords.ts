import { hash, verify } from "@node-rs/argon2";
import { createHash, randomBytes } from "node:crypto";

// Argon2id with OWASP's minimum recommended parameters (19 MiB, 2 iterations).
const OPTIONS = { memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

/**
 * The password policy (NIST SP 800-63B: length, not composition rules). The forms' zod schema
 * (`lib/schemas.ts`, `password`) states the same bounds; `passwordProblem` is for the other
 * ways a password is set (one-time sign-in link, demo data) and for tests.
 */
export const PASSWORD_POLICY = { minLength: 12, maxLength: 200 } as const;

export function passwordProblem(password: string): string | null {
  if (password.length < PASSWORD_POLICY.minLength) return `Use at least ${PASSWORD_POLICY.minLength} characters`;
  if (password.length > PASSWORD_POLICY.maxLength) return `Use at most ${PASSWORD_POLICY.maxLength} characters`;
  return null;
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/**
 * Single-use tokens carried by links (invitations, one-time sign-in): `<prefix>_<43 base64url
 * characters>` (256 random bits). Only `hashToken(token)` is stored; 256 bits need no salt or slow
 * hash, and a lookup by hash is a plain unique-index read.
 */
export type TokenPrefix = "inv" | "sil";

export function newToken(prefix: TokenPrefix): { token: string; tokenHash: string } {
  const token = `${prefix}_${randomBytes(32).toString("base64url")}`;
  return { token, tokenHash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export const tokenPattern = (prefix: TokenPrefix) => new RegExp(`^${prefix}_[A-Za-z0-9_-]{43}$`);
