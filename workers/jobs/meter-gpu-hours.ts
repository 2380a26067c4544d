/**
 * GPU-hour metering from observed running time: every replica that was ready is billed from the
 * moment it became ready to the moment it stopped (or now), in slices. A compare-and-set on
 * `meteredUntil` makes a slice count once even with several workers.
 */
import type PgBoss from "pg-boss";
import { db } from "../../server/db";
import { logger } from "../../server/logger";
import { gpuCostMicroEur } from "../../server/services/pricing";

export const METER_QUEUE = "usage.meter-gpu-hours";

export async function meterGpuHours(now = new Date()): Promise<{ slices: number; gpuSeconds: number }> {
  const replicas = await db.deploymentReplica.findMany({
    where: { readyAt: { not: null }, OR: [{ state: "ready" }, { meteredUntil: null }, { stoppedAt: { not: null } }] },
    include: { deployment: { select: { id: true, orgId: true, regionId: true, gpuTypeId: true, gpusPerReplica: true } } },
  });
  const prices = new Map((await db.regionCapacity.findMany({ select: { regionId: true, gpuTypeId: true, priceCentsPerGpuHour: true } })).map((c) => [`${c.regionId}/${c.gpuTypeId}`, c.priceCentsPerGpuHour]));
  let slices = 0;
  let total = 0;
  for (const r of replicas) {
    const start = r.meteredUntil ?? r.readyAt!;
    const end = r.state === "ready" ? now : (r.stoppedAt ?? r.updatedAt);
    const seconds = Math.floor((end.getTime() - start.getTime()) / 1000);
    if (seconds <= 0) continue;
    const periodEnd = new Date(start.getTime() + seconds * 1000);
    const d = r.deployment;
    const gpuSeconds = seconds * d.gpusPerReplica;
    const price = prices.get(`${d.regionId}/${d.gpuTypeId}`) ?? 0;
    const counted = await db.$transaction(async (tx) => {
      const claimed = await tx.deploymentReplica.updateMany({ where: { id: r.id, meteredUntil: r.meteredUntil }, data: { meteredUntil: periodEnd } });
      if (claimed.count !== 1) return false; // another worker metered this slice
      await tx.gpuUsage.create({
        data: { orgId: d.orgId, deploymentId: d.id, regionId: d.regionId, gpuTypeId: d.gpuTypeId, gpuCount: d.gpusPerReplica, periodStart: start, periodEnd, gpuSeconds, costMicroEur: BigInt(gpuCostMicroEur(price, gpuSeconds)) },
      });
      return true;
    });
    if (counted) {
      slices++;
      total += gpuSeconds;
    }
  }
  if (slices) logger.info("GPU time metered", { slices, gpuSeconds: total });
  return { slices, gpuSeconds: total };
}

export async function registerGpuMetering(boss: PgBoss) {
  await boss.createQueue(METER_QUEUE);
  await boss.work(METER_QUEUE, async () => {
    await meterGpuHours();
  });
  await boss.schedule(METER_QUEUE, "* * * * *");
}
