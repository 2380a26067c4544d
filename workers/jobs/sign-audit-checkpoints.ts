/**
 * Signs a checkpoint of every audit chain that grew, every AUDIT_CHECKPOINT_INTERVAL_SECONDS
 * (default 300), and sends each to the witness when one is configured (docs/audit-log.md).
 * Safe with several workers: createCheckpoint serialises per chain and signs a size once.
 */
import { db } from "../../server/db";
import { auditEnv } from "../../server/env";
import { logger } from "../../server/logger";
import { startLoop } from "../loop";
import { createCheckpoint } from "../../server/audit/log";

export interface CheckpointRun {
  chains: number;
  signed: { chain: string; treeSize: number; witnessed: boolean }[];
  failed: string[];
}

/** One pass: a checkpoint for each chain whose head is beyond its latest checkpoint. */
export async function signAuditCheckpoints(): Promise<CheckpointRun> {
  const grown = await db.$queryRaw<{ chain: string }[]>`
    SELECT h."chain" FROM "AuditChainHead" h
    WHERE h."seq" > COALESCE((SELECT max(c."treeSize") FROM "AuditCheckpoint" c WHERE c."chain" = h."chain"), 0)`;
  const run: CheckpointRun = { chains: grown.length, signed: [], failed: [] };
  for (const { chain } of grown) {
    try {
      const cp = await createCheckpoint(chain);
      if (cp) run.signed.push({ chain, treeSize: cp.treeSize, witnessed: cp.witnessedAt !== null });
    } catch (error) {
      // A chain that no longer matches its checkpoint is not signed; the others are.
      run.failed.push(chain);
      logger.error("audit checkpoint not signed", { chain, reason: (error as Error).message });
    }
  }
  if (run.signed.length || run.failed.length) logger.info("audit checkpoints signed", { signed: run.signed.length, failed: run.failed.length });
  return run;
}

/** The signing loop; returns its stop function. */
export function registerCheckpointSigning(intervalMs = auditEnv().AUDIT_CHECKPOINT_INTERVAL_SECONDS * 1000): () => Promise<void> {
  return startLoop("audit checkpoint signing", signAuditCheckpoints, intervalMs);
}
