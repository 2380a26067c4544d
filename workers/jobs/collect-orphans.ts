/**
 * The orphan collector: cluster objects that no live replica row owns (their deployment was
 * deleted while a worker was down, or a row was removed by hand) are deleted, region by region.
 */
import type PgBoss from "pg-boss";
import { db } from "../../server/db";
import { logger } from "../../server/logger";
import { driverForRegion } from "../drivers/registry";
import type { ClusterDriver } from "../drivers/types";

export const ORPHANS_QUEUE = "deployment.collect-orphans";

export async function collectOrphans(driverFor: (region: Parameters<typeof driverForRegion>[0]) => ClusterDriver = driverForRegion): Promise<string[]> {
  const regions = await db.region.findMany({ include: { capacities: { include: { gpuType: true } } } });
  const removed: string[] = [];
  const seen = new Set<ClusterDriver>();
  for (const region of regions) {
    const driver = driverFor(region);
    // Regions can share one cluster (and one driver): look at each cluster once.
    if (seen.has(driver)) continue;
    seen.add(driver);
    let observed;
    try {
      observed = await driver.observe();
    } catch (error) {
      logger.warn("orphan collection: cannot observe region", { region: region.code, error });
      continue;
    }
    if (observed.length === 0) continue;
    const owned = await db.deploymentReplica.findMany({
      where: { id: { in: observed.map((o) => o.replicaId) }, state: { not: "gone" }, deployment: { phase: { not: "DELETED" } } },
      select: { id: true, createdAt: true },
    });
    const ownedIds = new Set(owned.map((o) => o.id));
    for (const o of observed) {
      // Rows are written before cluster objects exist, so an object without a live row is an orphan.
      if (ownedIds.has(o.replicaId)) continue;
      await driver.delete(o.replicaId);
      removed.push(o.replicaId);
      logger.warn("orphaned cluster object removed", { region: region.code, replicaId: o.replicaId, clusterRef: o.clusterRef });
    }
  }
  return removed;
}

export async function registerOrphanCollection(boss: PgBoss) {
  await boss.createQueue(ORPHANS_QUEUE);
  await boss.work(ORPHANS_QUEUE, async () => {
    await collectOrphans();
  });
  await boss.schedule(ORPHANS_QUEUE, "* * * * *");
}
