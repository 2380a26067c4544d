/**
 * Partition upkeep for the tables that grow with traffic (server/db/partitions.ts), at start and
 * daily: monthly partitions from the oldest retained month to two months ahead for "UsageRecord"
 * and "Trace", and retention by dropping whole months — TRACE_RETENTION_DAYS (default 180) and
 * USAGE_RETENTION_DAYS (default 400; the usage roll-ups are kept). Inserts never wait for this job:
 * a row without its month's partition lands in the DEFAULT partition, and the month is split out of
 * it when its partition is created.
 */
import type PgBoss from "pg-boss";
import pg from "pg";
import { dropExpiredPartitions, ensureMonthlyPartitions, monthStart, TRACES, USAGE_RECORDS, type PartitionedTable } from "../../server/db/partitions";
import { logger } from "../../server/logger";
import { retentionFromEnv, type Retention } from "../../server/services/usage-rollup";

export const PARTITIONS_QUEUE = "maintenance.partitions";

const DAY_MS = 86_400_000;

export interface PartitionUpkeep {
  created: string[];
  dropped: string[];
}

/** Creates the partitions due and drops the expired ones, for both tables. */
export async function maintainPartitions(client: pg.Client | pg.PoolClient, now = new Date(), retention: Retention = retentionFromEnv()): Promise<PartitionUpkeep> {
  if (retention.traceDays < 180) {
    logger.warn("TRACE_RETENTION_DAYS is below 180 days: the AI Act asks deployers of high-risk systems to keep logs at least six months", { days: retention.traceDays });
  }
  const result: PartitionUpkeep = { created: [], dropped: [] };
  const ahead = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 2, 1));
  const tables: [PartitionedTable, number][] = [
    [USAGE_RECORDS, retention.usageDays],
    [TRACES, retention.traceDays],
  ];
  for (const [table, days] of tables) {
    const before = new Date(now.getTime() - days * DAY_MS);
    result.dropped.push(...(await dropExpiredPartitions(client, table, before)));
    result.created.push(...(await ensureMonthlyPartitions(client, table, monthStart(before), ahead)));
  }
  if (result.created.length || result.dropped.length) logger.info("partitions maintained", { ...result });
  return result;
}

async function runOnce(connectionString: string) {
  const client = new pg.Client({ connectionString, application_name: "enclave-workers-partitions", options: "-c TimeZone=UTC" });
  await client.connect();
  try {
    return await maintainPartitions(client);
  } finally {
    await client.end();
  }
}

export async function registerPartitionMaintenance(boss: PgBoss, connectionString: string) {
  // Read once at start: a bad value stops the workers with the variable's name.
  retentionFromEnv();
  await boss.createQueue(PARTITIONS_QUEUE);
  await boss.work(PARTITIONS_QUEUE, async () => {
    await runOnce(connectionString);
  });
  await boss.schedule(PARTITIONS_QUEUE, "17 3 * * *");
  await runOnce(connectionString).catch((error) => logger.error("partition upkeep failed", { error }));
}
