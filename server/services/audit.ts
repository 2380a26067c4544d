import { auditEventHash, GENESIS_HASH, type Hashable } from "../audit/event-hash";
import type { Tx } from "../db";
import type { ActorType, Prisma } from "../generated/prisma/client";

export const PLATFORM_CHAIN = "platform";
// The event hash lives in server/audit/event-hash.ts (pure, shared with the offline verifier).
export { auditEventHash, canonicalJson } from "../audit/event-hash";

export interface Actor {
  type: ActorType;
  id: string | null;
  label: string;
  ip?: string | null;
  requestId?: string | null;
  /** The person accountable: the user themself, or the creator of the API key that acted. */
  onBehalfOfUserId?: string | null;
}

/** The user id to store in `createdBy`-style columns: the person, or the key's creator. */
export function accountableUserId(actor: Actor): string {
  const id = actor.onBehalfOfUserId ?? (actor.type === "USER" ? actor.id : null);
  if (!id) throw new Error(`actor ${actor.type} ${actor.label} has no accountable user`);
  return id;
}

export const systemActor = (label = "system"): Actor => ({ type: "SYSTEM", id: null, label });

export interface AuditInput {
  orgId: string | null;
  action: string;
  targetType: string;
  targetId?: string | null;
  before?: unknown;
  after?: unknown;
}

/** JSON-safe copy (Dates as ISO strings, bigints as strings), which is what jsonb will give back. */
function toJson(value: unknown): Prisma.InputJsonValue | undefined {
  if (value === undefined || value === null) return undefined;
  return JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? v.toString() : v)));
}

/**
 * Appends an event to the organisation's hash chain, inside the caller's transaction: the event
 * exists if and only if the change it describes was committed.
 */
export async function recordAudit(tx: Tx, actor: Actor, input: AuditInput) {
  const chain = input.orgId ?? PLATFORM_CHAIN;
  // Serialise appends per chain so two transactions cannot both take the same predecessor.
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${"audit:" + chain}))`;
  const last = await tx.auditEvent.findFirst({ where: { chain }, orderBy: { seq: "desc" }, select: { seq: true, hash: true } });
  const seq = (last?.seq ?? 0) + 1;
  const prevHash = last?.hash ?? GENESIS_HASH;
  // Millisecond precision, as PostgreSQL's timestamp(3) stores it, so the hash survives a round trip.
  const createdAt = new Date(Math.floor(Date.now()));
  const before = toJson(input.before);
  const after = toJson(input.after);
  const row: Hashable = {
    chain,
    seq,
    orgId: input.orgId,
    actorType: actor.type,
    actorId: actor.id,
    actorLabel: actor.label,
    action: input.action,
    targetType: input.targetType,
    targetId: input.targetId ?? null,
    before: before ?? null,
    after: after ?? null,
    ip: actor.ip ?? null,
    requestId: actor.requestId ?? null,
    createdAt,
    prevHash,
  };
  const hash = auditEventHash(row);
  await tx.auditChainHead.upsert({ where: { chain }, create: { chain, seq, hash }, update: { seq, hash } });
  return tx.auditEvent.create({ data: { ...row, actorType: actor.type, before, after, hash } });
}

export type ChainVerification =
  | { ok: true; chain: string; events: number; headHash: string | null }
  | { ok: false; chain: string; events: number; brokenAtSeq: number; reason: string };

/** Recomputes every hash of a chain: an edited, inserted or deleted row breaks it. */
export async function verifyAuditChain(
  db: { auditEvent: Tx["auditEvent"]; auditChainHead: Tx["auditChainHead"] },
  chain: string,
): Promise<ChainVerification> {
  const [events, head] = await Promise.all([
    db.auditEvent.findMany({ where: { chain }, orderBy: { seq: "asc" } }),
    db.auditChainHead.findUnique({ where: { chain } }),
  ]);
  let prevHash = GENESIS_HASH;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const expectedSeq = i + 1;
    if (e.seq !== expectedSeq) {
      return { ok: false, chain, events: events.length, brokenAtSeq: expectedSeq, reason: `event #${expectedSeq} is missing` };
    }
    if (e.prevHash !== prevHash) {
      return { ok: false, chain, events: events.length, brokenAtSeq: e.seq, reason: `event #${e.seq} does not follow event #${e.seq - 1}` };
    }
    const recomputed = auditEventHash({ ...e, before: e.before ?? null, after: e.after ?? null });
    if (recomputed !== e.hash) {
      return { ok: false, chain, events: events.length, brokenAtSeq: e.seq, reason: `event #${e.seq} was altered after it was written` };
    }
    prevHash = e.hash;
  }
  const lastSeq = events.at(-1)?.seq ?? 0;
  if ((head?.seq ?? 0) !== lastSeq || (head && head.hash !== prevHash)) {
    return { ok: false, chain, events: events.length, brokenAtSeq: lastSeq + 1, reason: `the trail ends at event #${lastSeq} but its head records #${head?.seq ?? 0}: events were removed` };
  }
  return { ok: true, chain, events: events.length, headHash: events.at(-1)?.hash ?? null };
}
