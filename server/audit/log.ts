/**
 * The database side of the verifiable audit log (docs/audit-log.md): checkpoints of each chain's
 * Merkle log, signed by the installation key, sent to the witness; proofs; the bundle an export
 * carries.
 *
 * Proofs are computed from the chain's leaf hashes read in seq order (one indexed range read of
 * 64-hex strings and about 2n SHA-256 to build the tree, then O(log² n) per proof), meant for up
 * to a few million events per chain.
 * Beyond that a stored-tiles design (C2SP tlog-tiles: the tree's hashes persisted as they are
 * appended) would be needed, so that a proof reads O(log n) stored hashes instead of every leaf.
 */
import { auditLeafHash, exportedEvent } from "./event-hash";
import { MerkleTree, toHex } from "./merkle";
import { signCheckpoint } from "./note";
import { bundleProofs } from "./verify";
import { installationSigner, verifierKey } from "./keys";
import { submitToWitness } from "./witness";
import type { AuditBundle, Checkpoint, ConsistencyProof, ExportedAuditEvent, InclusionProof } from "./types";
import { db } from "../db";
import { DomainError } from "../errors";
import { auditEnv } from "../env";
import { logger } from "../logger";
import { PLATFORM_CHAIN, recordAudit, type Actor } from "../services/audit";
import type { AuditCheckpoint } from "../generated/prisma/client";

export { PLATFORM_CHAIN };

/** An organisation's chain is its id; the platform's events (orgId null) form the "platform" chain. */
export function chainOf(orgId: string | null): string {
  return orgId ?? PLATFORM_CHAIN;
}

/** A request the log cannot answer (beyond the tree, no checkpoint yet…): a precise 4xx at the API. */
export class AuditLogError extends DomainError {
  constructor(message: string, code: "NOT_FOUND" | "BAD_REQUEST" = "BAD_REQUEST", field?: string) {
    super(code, message, { field });
    this.name = "AuditLogError";
  }
}

export interface StoredCheckpoint extends Checkpoint {
  witnessedAt: string | null;
  witnessCosignature: string | null;
  witnessNote: string | null;
  witnessError: string | null;
}

function toCheckpoint(row: AuditCheckpoint): Checkpoint {
  return { origin: row.origin, chain: row.chain, treeSize: row.treeSize, rootHash: row.rootHash, time: row.time.toISOString(), note: row.note };
}

export function toStoredCheckpoint(row: AuditCheckpoint): StoredCheckpoint {
  return {
    ...toCheckpoint(row),
    witnessedAt: row.witnessedAt?.toISOString() ?? null,
    witnessCosignature: row.witnessCosignature,
    witnessNote: row.witnessNote,
    witnessError: row.witnessError,
  };
}

/** The leaf hashes of a chain's first `upTo` events (all by default), in seq order. */
export async function chainLeaves(chain: string, upTo?: number): Promise<Buffer[]> {
  const rows = await db.auditEvent.findMany({
    where: { chain, ...(upTo !== undefined ? { seq: { lte: upTo } } : {}) },
    orderBy: { seq: "asc" },
    select: { seq: true, hash: true },
  });
  return rows.map((r, i) => {
    if (r.seq !== i + 1) throw new Error(`audit chain ${chain} has a gap at event #${i + 1}`);
    return auditLeafHash(r.hash);
  });
}

export async function latestCheckpoint(chain: string): Promise<StoredCheckpoint | null> {
  const row = await db.auditCheckpoint.findFirst({ where: { chain }, orderBy: { treeSize: "desc" } });
  return row ? toStoredCheckpoint(row) : null;
}

export async function lastWitnessed(chain: string): Promise<StoredCheckpoint | null> {
  const row = await db.auditCheckpoint.findFirst({ where: { chain, witnessedAt: { not: null } }, orderBy: { treeSize: "desc" } });
  return row ? toStoredCheckpoint(row) : null;
}

export async function listCheckpoints(chain: string, opts: { limit: number; beforeSize?: number }): Promise<{ items: StoredCheckpoint[]; nextCursor: number | null }> {
  const rows = await db.auditCheckpoint.findMany({
    where: { chain, ...(opts.beforeSize !== undefined ? { treeSize: { lt: opts.beforeSize } } : {}) },
    orderBy: { treeSize: "desc" },
    take: opts.limit + 1,
  });
  const items = rows.slice(0, opts.limit).map(toStoredCheckpoint);
  return { items, nextCursor: rows.length > opts.limit ? items.at(-1)!.treeSize : null };
}

export interface CreateCheckpointOptions {
  now?: Date;
  /** Send to the witness configured by AUDIT_WITNESS_URL / AUDIT_WITNESS_KEY (default true). */
  witness?: boolean;
}

/**
 * Signs the chain's current size when it grew since the latest checkpoint, else returns the latest
 * (null for an empty chain). Refuses to sign when the events no longer give the latest checkpoint's
 * root (the log was rewritten under it). Then sends the new checkpoint to the witness, if any: its
 * failure is recorded on the checkpoint (witnessError), never thrown. Adds no audit event (signing
 * is a function of the log, and an event would grow the log it signs).
 */
export async function createCheckpoint(chain: string, opts: CreateCheckpointOptions = {}): Promise<StoredCheckpoint | null> {
  const signer = await installationSigner();
  const created = await db.$transaction(async (tx) => {
    // One signer per chain at a time, across processes.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${"audit-checkpoint:" + chain}))`;
    const [head, latest] = await Promise.all([
      tx.auditChainHead.findUnique({ where: { chain } }),
      tx.auditCheckpoint.findFirst({ where: { chain }, orderBy: { treeSize: "desc" } }),
    ]);
    const size = head?.seq ?? 0;
    if (size === 0 || (latest && latest.treeSize >= size)) return { row: latest, tree: null };
    const rows = await tx.auditEvent.findMany({ where: { chain, seq: { lte: size } }, orderBy: { seq: "asc" }, select: { seq: true, hash: true } });
    if (rows.length !== size || rows.some((r, i) => r.seq !== i + 1)) throw new Error(`audit chain ${chain} has gaps: refusing to sign a checkpoint`);
    const tree = new MerkleTree(rows.map((r) => auditLeafHash(r.hash)));
    if (latest && toHex(tree.root(latest.treeSize)) !== latest.rootHash) {
      throw new Error(`audit chain ${chain} no longer matches its checkpoint of size ${latest.treeSize}: refusing to sign`);
    }
    const cp = signCheckpoint(signer, chain, size, toHex(tree.root()), new Date(Math.floor((opts.now ?? new Date()).getTime())));
    const row = await tx.auditCheckpoint.create({ data: { chain, treeSize: size, rootHash: cp.rootHash, origin: cp.origin, time: new Date(cp.time), note: cp.note } });
    return { row, tree };
  });
  if (!created.row) return null;
  if (!created.tree || opts.witness === false) return toStoredCheckpoint(created.row);
  return witnessCheckpoint(created.row, created.tree);
}

/** Sends a checkpoint to the configured witness and records the outcome on it. */
async function witnessCheckpoint(row: AuditCheckpoint, tree: MerkleTree): Promise<StoredCheckpoint> {
  let settings: ReturnType<typeof auditEnv>;
  try {
    settings = auditEnv();
  } catch (error) {
    const updated = await db.auditCheckpoint.update({ where: { id: row.id }, data: { witnessError: (error as Error).message.split("\n").at(-1)?.trim() ?? "invalid witness settings" } });
    return toStoredCheckpoint(updated);
  }
  if (!settings.AUDIT_WITNESS_URL || !settings.AUDIT_WITNESS_KEY) return toStoredCheckpoint(row);
  const previous = await db.auditCheckpoint.findFirst({ where: { chain: row.chain, witnessedAt: { not: null }, treeSize: { lt: row.treeSize } }, orderBy: { treeSize: "desc" } });
  const outcome = await submitToWitness({
    url: settings.AUDIT_WITNESS_URL,
    witnessKey: settings.AUDIT_WITNESS_KEY,
    note: row.note,
    oldSize: previous?.treeSize ?? 0,
    proofFrom: (old) => (old >= 0 && old <= row.treeSize ? (old === 0 ? [] : tree.consistencyProof(old, row.treeSize)) : null),
  });
  const data = outcome.ok
    ? { witnessedAt: new Date(), witnessCosignature: outcome.cosignature, witnessNote: outcome.witnessNote, witnessError: null }
    : { witnessError: outcome.error };
  if (!outcome.ok) logger.warn("audit checkpoint not witnessed", { chain: row.chain, treeSize: row.treeSize, reason: outcome.error });
  return toStoredCheckpoint(await db.auditCheckpoint.update({ where: { id: row.id }, data }));
}

/** The latest checkpoint; a log that has events but no checkpoint yet gets its first one now. */
async function requireLatest(chain: string): Promise<StoredCheckpoint> {
  const latest = (await latestCheckpoint(chain)) ?? (await createCheckpoint(chain));
  if (!latest) throw new AuditLogError("this audit log has no event yet, so nothing to prove", "NOT_FOUND");
  return latest;
}

/** Inclusion proofs of events (by seq) under the latest checkpoint, or under `treeSize` (≤ the latest). */
export async function inclusionProofs(chain: string, seqs: number[], treeSize?: number): Promise<InclusionProof[]> {
  const latest = await requireLatest(chain);
  const size = treeSize ?? latest.treeSize;
  if (!Number.isSafeInteger(size) || size < 1) throw new AuditLogError("treeSize must be a positive integer", "BAD_REQUEST", "treeSize");
  if (size > latest.treeSize) throw new AuditLogError(`treeSize ${size} is beyond the latest checkpoint (size ${latest.treeSize})`, "BAD_REQUEST", "treeSize");
  for (const seq of seqs) {
    if (!Number.isSafeInteger(seq) || seq < 1) throw new AuditLogError("an event's seq is a positive integer");
    if (seq > size) throw new AuditLogError(`event #${seq} is not in the tree of size ${size}${seq > latest.treeSize ? ` (the latest checkpoint has ${latest.treeSize} events)` : ""}`, "BAD_REQUEST", "seq");
  }
  const tree = new MerkleTree(await chainLeaves(chain, size));
  if (tree.size !== size) throw new Error(`audit chain ${chain} holds ${tree.size} events, fewer than its checkpoint`);
  return seqs.map((seq) => ({
    leafIndex: seq - 1,
    treeSize: size,
    leafHash: toHex(tree.leaf(seq - 1)),
    path: tree.inclusionProof(seq - 1, size).map(toHex),
  }));
}

/** The consistency proof between two sizes, both at most the latest checkpoint's. */
export async function consistencyProofFor(chain: string, size1: number, size2: number): Promise<ConsistencyProof> {
  const latest = await requireLatest(chain);
  if (!Number.isSafeInteger(size1) || size1 < 1) throw new AuditLogError("size1 must be a positive integer", "BAD_REQUEST", "size1");
  if (!Number.isSafeInteger(size2) || size2 < size1) throw new AuditLogError(`size2 (${size2}) must be at least size1 (${size1})`, "BAD_REQUEST", "size2");
  if (size2 > latest.treeSize) throw new AuditLogError(`size2 ${size2} is beyond the latest checkpoint (size ${latest.treeSize})`, "BAD_REQUEST", "size2");
  const tree = new MerkleTree(await chainLeaves(chain, size2));
  return { size1, size2, path: tree.consistencyProof(size1, size2).map(toHex) };
}

/** Everything the offline verifier needs about one chain: events, checkpoints, proofs, verifier key. */
export async function loadAuditBundle(chain: string): Promise<AuditBundle> {
  const [rows, checkpointRows, key] = await Promise.all([
    db.auditEvent.findMany({ where: { chain }, orderBy: { seq: "asc" } }),
    db.auditCheckpoint.findMany({ where: { chain }, orderBy: { treeSize: "asc" } }),
    verifierKey(),
  ]);
  const events = rows.map(exportedEvent);
  const checkpoints = checkpointRows.map(toCheckpoint);
  return { chain, events, checkpoints, ...bundleProofs(events, checkpoints), verifierKeys: [key] };
}

export type CheckpointRootCheck =
  | { ok: true; chain: string; treeSize: number | null }
  | { ok: false; chain: string; treeSize: number; reason: string };

/** Recomputes the latest checkpoint's root from the chain's events (the hourly verification). */
export async function checkLatestCheckpointRoot(chain: string): Promise<CheckpointRootCheck> {
  const latest = await latestCheckpoint(chain);
  if (!latest) return { ok: true, chain, treeSize: null };
  let tree: MerkleTree;
  try {
    tree = new MerkleTree(await chainLeaves(chain, latest.treeSize));
  } catch (error) {
    return { ok: false, chain, treeSize: latest.treeSize, reason: (error as Error).message };
  }
  if (tree.size < latest.treeSize) return { ok: false, chain, treeSize: latest.treeSize, reason: `the checkpoint signs ${latest.treeSize} events but ${tree.size} remain` };
  if (toHex(tree.root()) !== latest.rootHash) return { ok: false, chain, treeSize: latest.treeSize, reason: `the events no longer give the root signed at size ${latest.treeSize}` };
  return { ok: true, chain, treeSize: latest.treeSize };
}

// ---------- what the API serves (server/api/routers/audit.ts) ----------

export async function checkpointStatus(chain: string) {
  const [latest, witnessed, head, key] = await Promise.all([latestCheckpoint(chain), lastWitnessed(chain), db.auditChainHead.findUnique({ where: { chain } }), verifierKey()]);
  let witnessConfigured = false;
  try {
    witnessConfigured = Boolean(auditEnv().AUDIT_WITNESS_URL);
  } catch {
    // Invalid settings: shown as not configured; the signing job records the reason.
  }
  return { chain, events: head?.seq ?? 0, latest, lastWitnessed: witnessed, verifierKey: key, witnessConfigured };
}

/**
 * "Sign a checkpoint now": the request is itself an audit event ("audit.checkpoint.requested",
 * written first, so the new checkpoint covers it); the periodic signing writes none.
 */
export async function requestCheckpoint(orgId: string | null, actor: Actor): Promise<StoredCheckpoint> {
  const chain = chainOf(orgId);
  await db.$transaction((tx) => recordAudit(tx, actor, { orgId, action: "audit.checkpoint.requested", targetType: "AuditLog", targetId: chain }));
  const cp = await createCheckpoint(chain);
  if (!cp) throw new Error(`audit chain ${chain} is empty after an event was recorded`);
  return cp;
}

async function treeOf(chain: string, size: number): Promise<MerkleTree> {
  const tree = new MerkleTree(await chainLeaves(chain, size));
  if (tree.size !== size) throw new Error(`audit chain ${chain} holds ${tree.size} events, fewer than ${size}`);
  return tree;
}

/** An event's inclusion proof with the root it proves against and the checkpoint of that size. */
export async function proveEvent(chain: string, seq: number, treeSize?: number) {
  const [proof] = await inclusionProofs(chain, [seq], treeSize);
  const [tree, event, checkpoint] = await Promise.all([
    treeOf(chain, proof.treeSize),
    db.auditEvent.findUnique({ where: { chain_seq: { chain, seq } }, select: { hash: true } }),
    db.auditCheckpoint.findUnique({ where: { chain_treeSize: { chain, treeSize: proof.treeSize } } }),
  ]);
  return {
    seq,
    eventHash: event!.hash,
    ...proof,
    rootHash: toHex(tree.root()),
    checkpoint: checkpoint ? toStoredCheckpoint(checkpoint) : null,
  };
}

export async function proveConsistency(chain: string, size1: number, size2: number) {
  const proof = await consistencyProofFor(chain, size1, size2);
  const tree = await treeOf(chain, size2);
  return { ...proof, rootHash1: toHex(tree.root(size1)), rootHash2: toHex(tree.root(size2)) };
}
