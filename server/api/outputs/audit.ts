/** Outputs of the verifiable audit log's procedures (server/api/routers/audit.ts, docs/audit-log.md). */
import { z } from "zod";

const hex64 = z.string().meta({ description: "64 lowercase hex digits (SHA-256)", example: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328" });

export const checkpointOutput = z.object({
  origin: z.string().meta({ description: "The log's origin line: <key name>/audit/<chain>" }),
  chain: z.string(),
  treeSize: z.number().int().meta({ description: "Events covered: seq 1..treeSize" }),
  rootHash: hex64,
  time: z.string().meta({ type: "string", format: "date-time", description: "When the installation signed it (also in the signed note)" }),
  note: z.string().meta({ description: "The C2SP signed note (checkpoint body, blank line, signature line)" }),
  witnessedAt: z.string().nullable().meta({ type: "string", format: "date-time", description: "When the witness cosigned it; null when not (yet) witnessed" }),
  witnessCosignature: z.string().nullable().meta({ description: "The witness's cosignature line (C2SP tlog-cosignature), verified against the witness key" }),
  witnessNote: z.string().nullable().meta({ description: "The note with the witness's cosignature appended" }),
  witnessError: z.string().nullable().meta({ description: "Why the witness did not cosign, when it did not" }),
});

export const checkpointStatusOutput = z.object({
  chain: z.string(),
  /** Events in the chain now (the checkpoint may trail it by up to one signing interval). */
  events: z.number().int(),
  latest: checkpointOutput.nullable(),
  lastWitnessed: checkpointOutput.nullable(),
  verifierKey: z.string().meta({ description: "The installation's C2SP verifier key: <name>+<key id>+<base64 key>" }),
  witnessConfigured: z.boolean(),
});

export const checkpointPageOutput = z.object({
  items: z.array(checkpointOutput),
  nextCursor: z.string().nullable().meta({ description: "Pass as cursor to read the next (older) page; null on the last page" }),
});

export const inclusionProofOutput = z.object({
  seq: z.number().int(),
  eventHash: hex64.meta({ description: "The event's hash: the leaf data" }),
  leafIndex: z.number().int().meta({ description: "seq − 1" }),
  treeSize: z.number().int(),
  leafHash: hex64.meta({ description: "SHA-256(0x00 || event hash bytes)" }),
  path: z.array(hex64).meta({ description: "RFC 9162 inclusion path, leaf to root" }),
  rootHash: hex64.meta({ description: "Root of the tree of treeSize events" }),
  checkpoint: checkpointOutput.nullable().meta({ description: "The signed checkpoint of that size, when one exists" }),
});

export const consistencyProofOutput = z.object({
  size1: z.number().int(),
  size2: z.number().int(),
  path: z.array(hex64).meta({ description: "RFC 9162 consistency proof" }),
  rootHash1: hex64,
  rootHash2: hex64,
});

export const verifierKeyOutput = z.object({
  keyName: z.string(),
  verifierKey: z.string().meta({ description: "C2SP vkey of the key that signs every audit checkpoint of this installation" }),
  witnessKey: z.string().nullable().meta({ description: "The configured witness's cosignature/v1 vkey, when a witness is set" }),
});
