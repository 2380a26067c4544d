/**
 * The hash of one audit event: SHA-256 (hex) of the canonical JSON of its fields, including the
 * previous event's hash (a hash chain). Pure (node:crypto only), shared by the console, the workers
 * and the offline verifier (server/audit/verify.ts). Changing anything here changes every hash.
 */
import { createHash } from "node:crypto";
import type { ExportedAuditEvent } from "./types";

/** The prevHash of a chain's first event. */
export const GENESIS_HASH = "0".repeat(64);

/** What the hash commits to: an event's fields as the database holds them (its own hash aside). */
export type Hashable = Omit<ExportedAuditEvent, "createdAt" | "hash"> & { createdAt: Date };

/** Deterministic JSON: object keys sorted, so the hash does not depend on key order after a round trip through jsonb. */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "bigint") return JSON.stringify(value.toString());
  if (typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** The fields an event's hash commits to, in the order an export writes them (two exports of one log are byte-identical). */
const HASHED_FIELDS = ["chain", "seq", "orgId", "actorType", "actorId", "actorLabel", "action", "targetType", "targetId", "before", "after", "ip", "requestId", "createdAt", "prevHash"] as const satisfies readonly (keyof Hashable)[];

function hashedFields(event: Record<(typeof HASHED_FIELDS)[number], unknown>): Record<(typeof HASHED_FIELDS)[number], unknown> {
  const fields = {} as Record<(typeof HASHED_FIELDS)[number], unknown>;
  for (const key of HASHED_FIELDS) fields[key] = event[key] ?? null;
  return fields;
}

export function auditEventHash(event: Hashable): string {
  return createHash("sha256").update(canonicalJson(hashedFields(event))).digest("hex");
}

/** The hash of an exported event (createdAt as an ISO string), for the offline verifier. */
export function exportedEventHash(event: Omit<Hashable, "createdAt"> & { createdAt: string | Date }): string {
  return auditEventHash({ ...event, createdAt: new Date(event.createdAt) });
}

/** An event as an export writes it: exactly the hashed fields (createdAt in ISO 8601) and its hash. */
export function exportedEvent(event: Omit<Hashable, "createdAt"> & { createdAt: string | Date; hash: string }): ExportedAuditEvent {
  const createdAt = event.createdAt instanceof Date ? event.createdAt.toISOString() : event.createdAt;
  return { ...hashedFields(event), createdAt, hash: event.hash } as ExportedAuditEvent;
}

/** Leaf hash of an event in its chain's Merkle log: SHA-256(0x00 || the 32 raw bytes of its hex hash). */
export function auditLeafHash(eventHashHex: string): Buffer {
  if (!/^[0-9a-f]{64}$/.test(eventHashHex)) throw new Error("an audit event hash is 64 lowercase hex digits");
  return createHash("sha256").update(Buffer.from([0x00])).update(Buffer.from(eventHashHex, "hex")).digest();
}
