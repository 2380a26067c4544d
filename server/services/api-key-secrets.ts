/**
 * API key secrets: `enc_<prefix>_<secret>`. The prefix (12 hex chars, unique, shown in the
 * console) finds the key in one indexed lookup; only a SHA-256 of the whole key is stored.
 * SHA-256 rather than a password hash because the secret has 256 bits of entropy (no dictionary
 * to guess from) and the gateway checks it on every request.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const API_KEY_PATTERN = /^enc_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

export function generateApiKey(): { key: string; prefix: string; secretHash: string } {
  const prefix = randomBytes(6).toString("hex");
  const key = `enc_${prefix}_${randomBytes(32).toString("base64url")}`;
  return { key, prefix, secretHash: hashApiKey(key) };
}

/** The prefix of a well-formed key, or null: malformed keys are refused before any lookup. */
export function apiKeyPrefix(key: string): string | null {
  return API_KEY_PATTERN.exec(key)?.[1] ?? null;
}

export function apiKeyMatches(key: string, secretHash: string): boolean {
  const a = Buffer.from(hashApiKey(key), "hex");
  const b = Buffer.from(secretHash, "hex");
  return a.length === b.length && timingSafeEqual(a, b);
}

/** PostgreSQL NOTIFY channels the gateway listens on: named in channels.ts, re-exported for the key code. */
export { GATEWAY_CHANNELS } from "./channels";

/** A key's secret hashes as raw SHA-256 digests: how the gateway keeps them, computed once per load. */
export interface KeySecretDigests {
  secretHash: Buffer;
  previousSecretHash: Buffer | null;
  /** Epoch ms; 0 when there is no previous secret. */
  previousSecretExpiresAt: number;
}

const digestEquals = (digest: Buffer, stored: Buffer) => stored.length === digest.length && timingSafeEqual(digest, stored);

/**
 * The rule: a key is accepted at `now` with its current secret, or with the one it replaced while
 * a rotation's grace period lasts (the row is found by `prefix` or `previousPrefix`). Revocation
 * and expiry are the caller's to check. The gateway calls this on every request.
 */
export function secretAccepted(key: string, digests: KeySecretDigests, now: number): boolean {
  const digest = createHash("sha256").update(key).digest();
  if (digestEquals(digest, digests.secretHash)) return true;
  return digests.previousSecretHash !== null && digests.previousSecretExpiresAt > now && digestEquals(digest, digests.previousSecretHash);
}

/** The same rule, on a key row as the database stores it (hex hashes, a Date). */
export function apiKeySecretAccepted(
  key: string,
  row: { secretHash: string; previousSecretHash: string | null; previousSecretExpiresAt: Date | null },
  now: Date = new Date(),
): boolean {
  return secretAccepted(
    key,
    {
      secretHash: Buffer.from(row.secretHash, "hex"),
      previousSecretHash: row.previousSecretHash === null ? null : Buffer.from(row.previousSecretHash, "hex"),
      previousSecretExpiresAt: row.previousSecretExpiresAt?.getTime() ?? 0,
    },
    now.getTime(),
  );
}
