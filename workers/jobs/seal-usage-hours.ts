/**
 * Seals each closed hour of an organisation's usage into its audit log (docs/audit-log.md, "Usage
 * hours"): one event "usage.hour.sealed" (targetType "UsageHour", targetId the hour's ISO start)
 * whose `after` is {hour, records, digest}, digest = usageHourDigest of that hour's UsageRecord rows.
 *
 * An hour is closed once it ended more than USAGE_SEAL_GRACE_MS ago (10 min: the gateway's spool
 * flushes within seconds, and a gateway restarted after a PostgreSQL outage replays its spool in
 * that time). Hours within the last USAGE_SEAL_LOOKBACK_HOURS (48) are re-counted on every pass:
 * rows that arrived after the seal add one "usage.hour.amended" event with the new count and digest.
 * Older hours are left as sealed; hours that were already older than the lookback when the job
 * first ran are not sealed.
 *
 * Idempotent across workers: a per-organisation advisory lock, and UsageHourSeal's primary key.
 */
import { db } from "../../server/db";
import { Prisma } from "../../server/generated/prisma/client";
import { logger } from "../../server/logger";
import { startLoop } from "../loop";
import { recordAudit, systemActor } from "../../server/services/audit";
import { hourOf, usageHourDigest } from "../../server/audit/usage-digest";

export const USAGE_SEAL_GRACE_MS = 10 * 60_000;
export const USAGE_SEAL_LOOKBACK_HOURS = 48;
export const USAGE_SEAL_INTERVAL_MS = 5 * 60_000;
const HOUR_MS = 3_600_000;
const ACTOR = systemActor("usage seal");

export interface SealRun {
  sealed: number;
  amended: number;
}

export async function sealUsageHours(opts: { now?: Date; graceMs?: number; lookbackHours?: number; orgId?: string } = {}): Promise<SealRun> {
  const now = opts.now ?? new Date();
  const end = hourOf(new Date(now.getTime() - (opts.graceMs ?? USAGE_SEAL_GRACE_MS)));
  const start = new Date(end.getTime() - (opts.lookbackHours ?? USAGE_SEAL_LOOKBACK_HOURS) * HOUR_MS);
  const counts = await db.$queryRaw<{ orgId: string; hour: Date; records: bigint }[]>`
    SELECT "orgId", date_trunc('hour', "createdAt") AS "hour", count(*) AS "records"
    FROM "UsageRecord"
    WHERE "createdAt" >= ${start} AND "createdAt" < ${end} ${opts.orgId ? Prisma.sql`AND "orgId" = ${opts.orgId}` : Prisma.empty}
    GROUP BY 1, 2`;
  const seals = await db.usageHourSeal.findMany({ where: { hour: { gte: start, lt: end } }, select: { orgId: true, hour: true, records: true } });
  const sealed = new Map(seals.map((s) => [`${s.orgId}\n${s.hour.getTime()}`, s.records]));
  const run: SealRun = { sealed: 0, amended: 0 };
  for (const c of counts) {
    if (sealed.get(`${c.orgId}\n${c.hour.getTime()}`) === Number(c.records)) continue;
    const outcome = await sealHour(c.orgId, c.hour);
    if (outcome === "sealed") run.sealed++;
    if (outcome === "amended") run.amended++;
  }
  if (run.sealed || run.amended) logger.info("usage hours sealed", { ...run });
  return run;
}

/** Seals (or amends) one hour of one organisation, once, whatever runs concurrently. */
export async function sealHour(orgId: string, hour: Date): Promise<"sealed" | "amended" | "unchanged"> {
  return db.$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${"usage-seal:" + orgId}))`;
    const existing = await tx.usageHourSeal.findUnique({ where: { orgId_hour: { orgId, hour } } });
    const rows = await tx.usageRecord.findMany({
      where: { orgId, createdAt: { gte: hour, lt: new Date(hour.getTime() + HOUR_MS) } },
      orderBy: [{ createdAt: "asc" }, { id: "asc" }],
      select: { id: true, createdAt: true, orgId: true, apiKeyId: true, deploymentId: true, endpoint: true, tokensIn: true, tokensOut: true, latencyMs: true, ttftMs: true, status: true, stream: true, costMicroEur: true, guardrails: true },
    });
    const digest = usageHourDigest(rows);
    const after = { hour: hour.toISOString(), records: rows.length, digest };
    if (!existing) {
      await recordAudit(tx, ACTOR, { orgId, action: "usage.hour.sealed", targetType: "UsageHour", targetId: after.hour, after });
      await tx.usageHourSeal.create({ data: { orgId, hour, records: rows.length, digest } });
      return "sealed";
    }
    if (existing.digest === digest) return "unchanged";
    await recordAudit(tx, ACTOR, {
      orgId,
      action: "usage.hour.amended",
      targetType: "UsageHour",
      targetId: after.hour,
      before: { hour: after.hour, records: existing.records, digest: existing.digest },
      after,
    });
    await tx.usageHourSeal.update({ where: { orgId_hour: { orgId, hour } }, data: { records: rows.length, digest, amendedAt: new Date() } });
    return "amended";
  });
}

/** The sealing loop; returns its stop function. */
export function registerUsageSealing(intervalMs = USAGE_SEAL_INTERVAL_MS): () => Promise<void> {
  return startLoop("usage sealing", sealUsageHours, intervalMs);
}
