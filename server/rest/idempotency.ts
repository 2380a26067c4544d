/**
 * `Idempotency-Key` on POST (Stripe's contract): the first response to a key is stored per
 * organisation and replayed for 24 h when the same caller sends the same request again; the same
 * key with another request is a 409. A request still running under that key is a 409 too. Server
 * errors are not stored, so a retry runs again. Secrets shown once (API keys) are never stored.
 */
import { createHash } from "node:crypto";
import { db } from "../db";
import { Prisma } from "../generated/prisma/client";

export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const SECRET = /enc_[0-9a-f]{12}_[A-Za-z0-9_-]{43}/g;

export type IdempotencyOutcome =
  | { kind: "run"; complete: (status: number, body: unknown) => Promise<void> }
  | { kind: "replay"; status: number; body: unknown }
  | { kind: "refuse"; status: 400 | 409; code: string; message: string };

export function requestFingerprint(method: string, path: string, body: string): string {
  return createHash("sha256").update(`${method}\n${path}\n${body}`).digest("hex");
}

// Response fields that carry a secret shown once (an API key, an invitation's token and link).
const SECRET_FIELDS = new Set(["key", "token", "acceptPath", "acceptUrl", "signInUrl", "secret"]);
const NOT_REPLAYED = "[shown once; not replayed]";

/** A stored response never holds a secret: shown once, never replayed. */
function withoutSecrets(body: unknown): unknown {
  const scrub = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(scrub);
    if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_FIELDS.has(k) && typeof v === "string" ? NOT_REPLAYED : scrub(v)]));
    return typeof value === "string" ? value.replace(SECRET, NOT_REPLAYED) : value;
  };
  return scrub(body ?? null);
}

export async function beginIdempotent(input: { scope: string; key: string; principal: string; fingerprint: string }): Promise<IdempotencyOutcome> {
  if (!KEY_PATTERN.test(input.key)) {
    return { kind: "refuse", status: 400, code: "idempotency_key_invalid", message: "Idempotency-Key must be 1 to 255 visible ASCII characters" };
  }
  const cutoff = new Date(Date.now() - IDEMPOTENCY_TTL_MS);
  for (let attempt = 0; attempt < 3; attempt++) {
    const inserted = await db.$executeRaw`
      INSERT INTO "IdempotencyRecord" ("scope", "key", "principal", "requestHash")
      VALUES (${input.scope}, ${input.key}, ${input.principal}, ${input.fingerprint})
      ON CONFLICT ("scope", "key") DO NOTHING`;
    if (inserted === 1) {
      // Opportunistic clean-up of expired records, about once in a hundred requests.
      if (Math.random() < 0.01) await db.idempotencyRecord.deleteMany({ where: { createdAt: { lt: cutoff } } });
      const where = { scope_key: { scope: input.scope, key: input.key } };
      return {
        kind: "run",
        complete: async (status, body) => {
          if (status >= 500 || status === 401 || status === 429) await db.idempotencyRecord.delete({ where }).catch(() => undefined);
          else await db.idempotencyRecord.update({ where, data: { status, body: withoutSecrets(body) as Prisma.InputJsonValue } });
        },
      };
    }
    const existing = await db.idempotencyRecord.findUnique({ where: { scope_key: { scope: input.scope, key: input.key } } });
    if (!existing) continue; // deleted between our insert and read: try again
    if (existing.createdAt < cutoff) {
      await db.idempotencyRecord.deleteMany({ where: { scope: input.scope, key: input.key, createdAt: existing.createdAt } });
      continue;
    }
    if (existing.principal !== input.principal || existing.requestHash !== input.fingerprint) {
      return { kind: "refuse", status: 409, code: "idempotency_key_reused", message: "This Idempotency-Key was already used for a different request in the last 24 hours; use a new key for a new request" };
    }
    if (existing.status === null) {
      return { kind: "refuse", status: 409, code: "idempotency_request_in_progress", message: "A request with this Idempotency-Key is still being processed; retry in a moment" };
    }
    return { kind: "replay", status: existing.status, body: existing.body };
  }
  return { kind: "refuse", status: 409, code: "idempotency_request_in_progress", message: "A request with this Idempotency-Key is being processed; retry in a moment" };
}
