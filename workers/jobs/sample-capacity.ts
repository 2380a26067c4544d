/**
 * GPUs allocated vs capacity per region and GPU type, sampled every few minutes into
 * "CapacityHourly" (one row per hour holding the hour's highest allocation), the history the
 * admin capacity dashboard draws (server/services/usage.ts). The upsert itself is
 * `sampleCapacity` of server/services/usage-rollup.ts; it is safe with several workers.
 */
import pg from "pg";
import type PgBoss from "pg-boss";
import { logger } from "../../server/logger";
import { sampleCapacity } from "../../server/services/usage-rollup";

export const CAPACITY_SAMPLE_QUEUE = "usage.sample-capacity";

/** Every five minutes: an allocation that lasts longer than that shows in its hour's maximum. */
export const CAPACITY_SAMPLE_CRON = "*/5 * * * *";

/** Takes one sample on a connection of `pool`. */
export async function sampleCapacityOnce(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await sampleCapacity(client);
  } finally {
    client.release();
  }
}

/** Registers the sampling queue and its schedule; returns how to close its connection. */
export async function registerCapacitySampling(boss: PgBoss, connectionString: string): Promise<() => Promise<void>> {
  const pool = new pg.Pool({ connectionString, max: 1, application_name: "enclave-capacity-sampler" });
  pool.on("error", (error) => logger.warn("capacity sampler connection failed", { error }));
  // A checked-out client whose socket breaks emits "error" too (its query fails as well): keep it handled.
  pool.on("connect", (client) => client.on("error", () => {}));
  await boss.createQueue(CAPACITY_SAMPLE_QUEUE);
  await boss.work(CAPACITY_SAMPLE_QUEUE, async () => {
    await sampleCapacityOnce(pool);
  });
  await boss.schedule(CAPACITY_SAMPLE_QUEUE, CAPACITY_SAMPLE_CRON);
  // A first sample now, rather than up to five minutes after a start.
  await boss.send(CAPACITY_SAMPLE_QUEUE, {});
  return () => pool.end();
}
