import type PgBoss from "pg-boss";
import { db } from "../../server/db";
import { logger } from "../../server/logger";
import { verifyAuditChain, type ChainVerification } from "../../server/services/audit";
import { checkLatestCheckpointRoot } from "../../server/audit/log";
import { recordChainVerification } from "../../server/services/compliance";

export const VERIFY_AUDIT_CHAINS = "audit.verify-chains";

/** Re-verifies every organisation's audit chain and its latest checkpoint's root; a broken chain is logged as an error naming the first bad event. */
export async function verifyAllAuditChains(): Promise<ChainVerification[]> {
  const chains = await db.auditChainHead.findMany({ select: { chain: true } });
  const results = [];
  for (const { chain } of chains) {
    let result = await verifyAuditChain(db, chain);
    // Also recompute the latest signed checkpoint's root from the events (server/audit/log.ts).
    if (result.ok) {
      const root = await checkLatestCheckpointRoot(chain);
      if (!root.ok) result = { ok: false, chain, events: result.events, brokenAtSeq: root.treeSize, reason: root.reason };
    }
    if (!result.ok) logger.error("audit chain broken", { chain, seq: result.brokenAtSeq, reason: result.reason });
    // The compliance dashboard's "last verification" (docs/compliance.md).
    await recordChainVerification(result);
    results.push(result);
  }
  logger.info("audit chains verified", { chains: results.length, broken: results.filter((r) => !r.ok).length });
  return results;
}

export async function registerAuditChainVerification(boss: PgBoss) {
  await boss.createQueue(VERIFY_AUDIT_CHAINS);
  await boss.work(VERIFY_AUDIT_CHAINS, async () => {
    await verifyAllAuditChains();
  });
  // Hourly, and once at start-up.
  await boss.schedule(VERIFY_AUDIT_CHAINS, "7 * * * *");
  await boss.send(VERIFY_AUDIT_CHAINS, {}, { singletonKey: "startup", singletonSeconds: 60 });
}
