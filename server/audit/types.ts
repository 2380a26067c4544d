/**
 * Shared contracts of the verifiable audit log (issue 13). Imports nothing of Enclave, so that the
 * offline verifier (`npm run audit:verify`) and an auditor's own code can use server/audit/ alone.
 *
 * The log of a chain (an organisation's id, or "platform") is an RFC 6962 / RFC 9162 Merkle tree
 * whose leaf i (0-based) is the event with seq = i + 1, and whose leaf data is the 32 raw bytes of
 * that event's `hash` (hex in the database): leaf hash = SHA-256(0x00 || bytes(hash)). The event
 * hash commits to every field of the event (canonical JSON, see server/audit/event-hash.ts).
 */

/** One audit event as exported (archive `audit/events.jsonl`, one per line) and verified. */
export interface ExportedAuditEvent {
  chain: string;
  seq: number;
  orgId: string | null;
  actorType: string;
  actorId: string | null;
  actorLabel: string;
  action: string;
  targetType: string;
  targetId: string | null;
  before: unknown;
  after: unknown;
  ip: string | null;
  requestId: string | null;
  /** ISO 8601 with milliseconds. */
  createdAt: string;
  prevHash: string;
  hash: string;
}

/** A signed checkpoint of one chain: tree size + root + time, as a C2SP signed note. */
export interface Checkpoint {
  /** The log's origin line, e.g. "enclave.example.eu/audit/<chain>". */
  origin: string;
  chain: string;
  treeSize: number;
  /** Hex SHA-256 root of the first treeSize leaves. */
  rootHash: string;
  /** ISO 8601: when the installation signed it (also inside the note, so it is signed). */
  time: string;
  /** The whole signed note text (body + blank line + signature lines), as sent to witnesses. */
  note: string;
}

/** Hex-encoded proofs, as RFC 9162 defines them. */
export interface InclusionProof {
  leafIndex: number;
  treeSize: number;
  leafHash: string;
  path: string[];
}
export interface ConsistencyProof {
  size1: number;
  size2: number;
  path: string[];
}

/** Everything the offline verifier needs about one chain, with no database. */
export interface AuditBundle {
  chain: string;
  events: ExportedAuditEvent[];
  checkpoints: Checkpoint[];
  /** Inclusion proof of every event under the latest checkpoint. */
  inclusionProofs: InclusionProof[];
  /** Consistency proof between each pair of successive checkpoints. */
  consistencyProofs: ConsistencyProof[];
  /** The installation's published verifier key(s), C2SP vkey format "<name>+<hex key id>+<base64>". */
  verifierKeys: string[];
}

export interface AuditProblem {
  kind:
    | "event-hash"
    | "prev-hash"
    | "sequence-gap"
    | "inclusion"
    | "consistency"
    | "checkpoint-root"
    | "signature"
    | "fork"
    | "truncated"
    | "format";
  seq?: number;
  treeSize?: number;
  message: string;
}

export interface AuditVerificationReport {
  ok: boolean;
  chain: string;
  events: number;
  checkpoints: number;
  /** Size and root of the latest checkpoint that verified, null when none. */
  verifiedTreeSize: number | null;
  problems: AuditProblem[];
}

/** Signs with the installation's Ed25519 key (server/audit/keys.ts provides one). */
export interface InstallationSigner {
  /** The key name used in signed notes, e.g. "enclave.example.eu". */
  keyName: string;
  /** C2SP vkey: "<name>+<8 hex key id>+<base64(0x01 || 32-byte public key)>". */
  verifierKey: string;
  sign(message: Uint8Array): Uint8Array;
}
