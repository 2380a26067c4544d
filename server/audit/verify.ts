/**
 * The offline verifier of an audit log: given the events, the signed checkpoints, the proofs and the
 * keys it trusts, it needs neither the database nor trust in the operator. Pure (node:crypto only).
 * `npm run audit:verify` (scripts/audit-verify.ts) and the import run it; so can an auditor's code.
 *
 * It trusts nothing it is handed but the keys passed in `trustedKeys` (the installation's published
 * vkey, from GET /api/v1/audit/verifier-key or the operator's documentation) — not the
 * archive's own audit/verifier-keys.txt, which is informative only.
 */
import { auditLeafHash, exportedEvent, exportedEventHash, GENESIS_HASH } from "./event-hash";
import { MerkleTree, verifyConsistency, verifyInclusion } from "./merkle";
import { verifyCheckpointNote, type CheckpointBody } from "./note";
import type { AuditBundle, AuditProblem, AuditVerificationReport, Checkpoint, ConsistencyProof, ExportedAuditEvent, InclusionProof } from "./types";

const HEX64 = /^[0-9a-f]{64}$/;
const hex = (h: string) => Buffer.from(h, "hex");
const validHexes = (hs: unknown): hs is string[] => Array.isArray(hs) && hs.every((h) => typeof h === "string" && HEX64.test(h));

interface SignedCheckpoint {
  checkpoint: Checkpoint;
  body: CheckpointBody;
}

export function verifyAuditBundle(bundle: AuditBundle, opts: { trustedKeys: string[] }): AuditVerificationReport {
  const problems: AuditProblem[] = [];
  const { chain, events } = bundle;

  // 1. The hash chain: seq 1..n without gaps, every hash recomputed, every link to its predecessor.
  const leaves: Buffer[] = [];
  let prevHash = GENESIS_HASH;
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    const expected = i + 1;
    if (e.chain !== chain) problems.push({ kind: "format", seq: e.seq, message: `event #${e.seq} belongs to chain "${e.chain}", not "${chain}"` });
    if (e.seq !== expected) {
      problems.push({
        kind: "sequence-gap",
        seq: expected,
        message: e.seq > expected ? `event #${expected} is missing (found #${e.seq} in its place)` : `event #${e.seq} is out of order (expected #${expected})`,
      });
    }
    if (typeof e.hash !== "string" || !HEX64.test(e.hash)) {
      problems.push({ kind: "format", seq: e.seq, message: `event #${e.seq} has no valid hash` });
      leaves.push(Buffer.alloc(32));
      continue;
    }
    let recomputed: string | null = null;
    try {
      recomputed = exportedEventHash(e);
    } catch {
      problems.push({ kind: "format", seq: e.seq, message: `event #${e.seq} cannot be hashed (malformed fields)` });
    }
    if (recomputed !== null && recomputed !== e.hash) problems.push({ kind: "event-hash", seq: e.seq, message: `event #${e.seq} was altered after it was written (its hash does not match its content)` });
    if (e.prevHash !== prevHash) problems.push({ kind: "prev-hash", seq: e.seq, message: `event #${e.seq} does not follow the event before it` });
    prevHash = e.hash;
    leaves.push(auditLeafHash(e.hash));
  }
  const tree = new MerkleTree(leaves);

  // 2. Checkpoints: signature by a trusted key, fields as signed, root recomputed from the leaves.
  const signed: SignedCheckpoint[] = [];
  for (const cp of bundle.checkpoints) {
    const v = verifyCheckpointNote(cp.note, opts.trustedKeys);
    if (!v.ok) {
      problems.push({ kind: v.body ? "signature" : "format", treeSize: cp.treeSize, message: `checkpoint of size ${cp.treeSize}: ${v.error}` });
      continue;
    }
    const body = v.body;
    if (body.treeSize !== cp.treeSize || body.rootHash !== cp.rootHash || body.origin !== cp.origin || (body.time !== null && body.time !== cp.time)) {
      problems.push({ kind: "format", treeSize: body.treeSize, message: `checkpoint of size ${cp.treeSize}: its fields differ from its signed note` });
    }
    if (!body.origin.endsWith(`/audit/${chain}`)) {
      problems.push({ kind: "format", treeSize: body.treeSize, message: `checkpoint of size ${body.treeSize} is for log "${body.origin}", not chain "${chain}"` });
      continue;
    }
    signed.push({ checkpoint: cp, body });
  }
  // Verified roots by size; two different validly signed roots for one size are a fork.
  const roots = new Map<number, string>();
  const forked = new Set<number>();
  for (const { body } of signed) {
    const seen = roots.get(body.treeSize);
    if (seen !== undefined && seen !== body.rootHash) {
      if (!forked.has(body.treeSize)) problems.push({ kind: "fork", treeSize: body.treeSize, message: `two different roots are signed for size ${body.treeSize}: the log was forked` });
      forked.add(body.treeSize);
    } else roots.set(body.treeSize, body.rootHash);
  }
  let verifiedTreeSize: number | null = null;
  const rootChecked = new Set<string>();
  for (const { body } of signed) {
    const key = `${body.treeSize}:${body.rootHash}`;
    if (rootChecked.has(key)) continue;
    rootChecked.add(key);
    if (body.treeSize > tree.size) {
      problems.push({ kind: "truncated", treeSize: body.treeSize, message: `a checkpoint signs ${body.treeSize} events but only ${tree.size} are given: the log was truncated` });
      continue;
    }
    if (tree.root(body.treeSize).toString("hex") !== body.rootHash) {
      problems.push({ kind: "checkpoint-root", treeSize: body.treeSize, message: `the events do not give the signed root of size ${body.treeSize}: the log was rewritten` });
      continue;
    }
    if (!forked.has(body.treeSize) && (verifiedTreeSize === null || body.treeSize > verifiedTreeSize)) verifiedTreeSize = body.treeSize;
  }

  // 3. Every supplied inclusion proof against the signed root of its size.
  for (const p of bundle.inclusionProofs) {
    const where = `inclusion proof of event #${p.leafIndex + 1} in size ${p.treeSize}`;
    const root = roots.get(p.treeSize);
    if (root === undefined || forked.has(p.treeSize)) {
      problems.push({ kind: "inclusion", seq: p.leafIndex + 1, treeSize: p.treeSize, message: `${where}: no single signed checkpoint of that size` });
      continue;
    }
    if (!HEX64.test(p.leafHash) || !validHexes(p.path) || !verifyInclusion(hex(p.leafHash), p.leafIndex, p.treeSize, p.path.map(hex), hex(root))) {
      problems.push({ kind: "inclusion", seq: p.leafIndex + 1, treeSize: p.treeSize, message: `${where} does not verify` });
      continue;
    }
    if (p.leafIndex < leaves.length && !leaves[p.leafIndex].equals(hex(p.leafHash))) {
      problems.push({ kind: "inclusion", seq: p.leafIndex + 1, treeSize: p.treeSize, message: `${where} is for another leaf than the event given` });
    }
  }

  // 4. Every supplied consistency proof, and one between each pair of successive checkpoint sizes.
  const proofs = new Map<string, ConsistencyProof>();
  for (const p of bundle.consistencyProofs) {
    const where = `consistency proof from size ${p.size1} to ${p.size2}`;
    const r1 = roots.get(p.size1);
    const r2 = roots.get(p.size2);
    if (r1 === undefined || r2 === undefined) {
      problems.push({ kind: "consistency", treeSize: p.size2, message: `${where}: no signed checkpoint of both sizes` });
      continue;
    }
    if (!validHexes(p.path) || !verifyConsistency(p.size1, p.size2, p.path.map(hex), hex(r1), hex(r2))) {
      problems.push({ kind: "consistency", treeSize: p.size2, message: `${where} does not verify: the later checkpoint does not extend the earlier one` });
      continue;
    }
    proofs.set(`${p.size1}:${p.size2}`, p);
  }
  const sizes = [...roots.keys()].sort((a, b) => a - b);
  for (let i = 1; i < sizes.length; i++) {
    const key = `${sizes[i - 1]}:${sizes[i]}`;
    if (!proofs.has(key) && !bundle.consistencyProofs.some((p) => `${p.size1}:${p.size2}` === key)) {
      problems.push({ kind: "consistency", treeSize: sizes[i], message: `no consistency proof from size ${sizes[i - 1]} to ${sizes[i]}` });
    }
  }

  return { ok: problems.length === 0, chain, events: events.length, checkpoints: bundle.checkpoints.length, verifiedTreeSize, problems };
}

// ---------- the archive's audit part ----------

export const AUDIT_FILES = {
  events: "audit/events.jsonl",
  checkpoints: "audit/checkpoints.jsonl",
  proofs: "audit/proofs.json",
  verifierKeys: "audit/verifier-keys.txt",
} as const;

const jsonl = (rows: unknown[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join("");

/** The audit part of an export archive (paths under audit/), see docs/audit-log.md "Archive part". */
export function auditBundleFiles(bundle: AuditBundle): { path: string; content: string }[] {
  const checkpoint = (c: Checkpoint) => ({ origin: c.origin, chain: c.chain, treeSize: c.treeSize, rootHash: c.rootHash, time: c.time, note: c.note });
  const inclusion = (p: InclusionProof) => ({ leafIndex: p.leafIndex, treeSize: p.treeSize, leafHash: p.leafHash, path: p.path });
  const consistency = (p: ConsistencyProof) => ({ size1: p.size1, size2: p.size2, path: p.path });
  return [
    { path: AUDIT_FILES.events, content: jsonl(bundle.events.map(exportedEvent)) },
    { path: AUDIT_FILES.checkpoints, content: jsonl(bundle.checkpoints.map(checkpoint)) },
    {
      path: AUDIT_FILES.proofs,
      content: `${JSON.stringify({ chain: bundle.chain, inclusionProofs: bundle.inclusionProofs.map(inclusion), consistencyProofs: bundle.consistencyProofs.map(consistency) }, null, 1)}\n`,
    },
    { path: AUDIT_FILES.verifierKeys, content: bundle.verifierKeys.map((k) => `${k}\n`).join("") },
  ];
}

function parseJsonl<T>(file: string, content: string): T[] {
  return content
    .split("\n")
    .map((line, i) => ({ line, i }))
    .filter(({ line }) => line.trim() !== "")
    .map(({ line, i }) => {
      try {
        return JSON.parse(line) as T;
      } catch {
        throw new Error(`${file} line ${i + 1} is not JSON`);
      }
    });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads the audit part of an archive back; throws an Error naming the file at fault when malformed. */
export function readAuditBundleFiles(files: Map<string, string>): AuditBundle {
  const get = (path: string) => {
    const content = files.get(path);
    if (content === undefined) throw new Error(`the archive has no ${path}`);
    return content;
  };
  const events = parseJsonl<ExportedAuditEvent>(AUDIT_FILES.events, get(AUDIT_FILES.events));
  events.forEach((e, i) => {
    if (!isObject(e) || typeof e.seq !== "number" || typeof e.hash !== "string" || typeof e.createdAt !== "string" || typeof e.chain !== "string") {
      throw new Error(`${AUDIT_FILES.events} line ${i + 1} is not an audit event`);
    }
  });
  const checkpoints = parseJsonl<Checkpoint>(AUDIT_FILES.checkpoints, get(AUDIT_FILES.checkpoints));
  checkpoints.forEach((c, i) => {
    if (!isObject(c) || typeof c.note !== "string" || typeof c.treeSize !== "number" || typeof c.rootHash !== "string") {
      throw new Error(`${AUDIT_FILES.checkpoints} line ${i + 1} is not a checkpoint`);
    }
  });
  let proofs: unknown;
  try {
    proofs = JSON.parse(get(AUDIT_FILES.proofs));
  } catch (error) {
    if ((error as Error).message.startsWith("the archive")) throw error;
    throw new Error(`${AUDIT_FILES.proofs} is not JSON`);
  }
  if (!isObject(proofs) || typeof proofs.chain !== "string" || !Array.isArray(proofs.inclusionProofs) || !Array.isArray(proofs.consistencyProofs)) {
    throw new Error(`${AUDIT_FILES.proofs} holds {chain, inclusionProofs[], consistencyProofs[]}`);
  }
  const inclusionProofs = proofs.inclusionProofs as InclusionProof[];
  const consistencyProofs = proofs.consistencyProofs as ConsistencyProof[];
  if (!inclusionProofs.every((p) => isObject(p) && typeof p.leafIndex === "number" && typeof p.treeSize === "number" && typeof p.leafHash === "string" && Array.isArray(p.path))) {
    throw new Error(`${AUDIT_FILES.proofs}: an inclusion proof is malformed`);
  }
  if (!consistencyProofs.every((p) => isObject(p) && typeof p.size1 === "number" && typeof p.size2 === "number" && Array.isArray(p.path))) {
    throw new Error(`${AUDIT_FILES.proofs}: a consistency proof is malformed`);
  }
  const verifierKeys = get(AUDIT_FILES.verifierKeys)
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  return { chain: proofs.chain, events, checkpoints, inclusionProofs, consistencyProofs, verifierKeys };
}

/**
 * Builds the proofs of a bundle from its events and checkpoints: inclusion of every event under
 * the latest checkpoint, consistency between successive checkpoints. Used by log.ts (database side)
 * and by an import that re-derives proofs.
 */
export function bundleProofs(events: readonly ExportedAuditEvent[], checkpoints: readonly Checkpoint[]): { inclusionProofs: InclusionProof[]; consistencyProofs: ConsistencyProof[] } {
  const tree = new MerkleTree(events.map((e) => auditLeafHash(e.hash)));
  const sizes = [...new Set(checkpoints.map((c) => c.treeSize))].filter((s) => s > 0 && s <= tree.size).sort((a, b) => a - b);
  const latest = sizes.at(-1);
  const inclusionProofs: InclusionProof[] = [];
  if (latest !== undefined) {
    for (let i = 0; i < latest; i++) {
      inclusionProofs.push({ leafIndex: i, treeSize: latest, leafHash: auditLeafHash(events[i].hash).toString("hex"), path: tree.inclusionProof(i, latest).map((h) => h.toString("hex")) });
    }
  }
  const consistencyProofs: ConsistencyProof[] = [];
  for (let i = 1; i < sizes.length; i++) {
    consistencyProofs.push({ size1: sizes[i - 1], size2: sizes[i], path: tree.consistencyProof(sizes[i - 1], sizes[i]).map((h) => h.toString("hex")) });
  }
  return { inclusionProofs, consistencyProofs };
}
