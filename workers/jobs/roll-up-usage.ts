/**
 * Continuous usage roll-up (server/services/usage-rollup.ts): every ~15 s the workers fold the new
 * usage deltas into the hourly and daily rows, so a request shows on the dashboards within a
 * minute. With several workers processes, the roll-up's advisory lock lets one fold while the
 * others skip that tick. (The GPU allocation history is workers/jobs/sample-capacity.ts.)
 */
import pg from "pg";
import { logger } from "../../server/logger";
import { startLoop } from "../loop";
import { rollUpUsage } from "../../server/services/usage-rollup";

export const ROLLUP_INTERVAL_MS = Number(process.env.ENCLAVE_USAGE_ROLLUP_MS ?? 15_000);

/** One roll-up tick on a connection of `pool`. */
export async function rollUpTick(pool: pg.Pool) {
  const client = await pool.connect();
  try {
    const result = await rollUpUsage({ client, wait: false });
    if (result.deltas > 0) logger.debug("usage rolled up", { deltas: result.deltas, hours: result.hours, ms: Math.round(result.ms) });
    return result;
  } finally {
    client.release();
  }
}

export async function registerUsageRollup(connectionString: string): Promise<() => Promise<void>> {
  const pool = new pg.Pool({ connectionString, max: 1, application_name: "enclave-workers-rollup", options: "-c TimeZone=UTC" });
  pool.on("error", (error) => logger.warn("usage roll-up connection lost", { error: String(error) }));
  // A checked-out client whose socket breaks emits "error" too (its query fails as well): keep it handled.
  pool.on("connect", (client) => client.on("error", () => {}));
  const stop = startLoop("usage roll-up", () => rollUpTick(pool), ROLLUP_INTERVAL_MS);
  return async () => {
    await stop();
    await pool.end();
  };
}
