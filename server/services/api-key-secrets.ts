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

/** PostgreSQL NOTIFY channels the gateway listens on (payload: the changed row's id). */
export const GATEWAY_CHANNELS = { apiKeys: "enclave_api_keys", routes: "enclave_routes" } as const;

/**
 * Whether a key row accepts this secret at `now`: its current secret, or the one it replaced while
 * a rotation's grace period lasts (the row is found by `prefix` or `previousPrefix`). Revocation
 * and expiry are the caller's to check.
 */
export function apiKeySecretAccepted(
  key: string,
  row: { secretHash: string; previousSecretHash: string | null; previousSecretExpiresAt: Date | null },
  now: Date = new Date(),
): boolean {
  if (apiKeyMatches(key, row.secretHash)) return true;
  return row.previousSecretHash !== null && row.previousSecretExpiresAt !== null && row.previousSecretExpiresAt > now && apiKeyMatches(key, row.previousSecretHash);
}
