/**
 * `npm run usage:rollup [-- --rebuild [--from 2026-01-01] [--until 2026-12-01]]`
 *
 * Runs the usage roll-up to completion (server/services/usage-rollup.ts, docs/usage.md): the same
 * fold the workers run every 15 s, for everything pending. `--rebuild` first recomputes every day
 * from the raw rows (after an import into "UsageRecord", a restore, or a change of histogram
 * buckets), from `--from` (default: the first day with raw rows within USAGE_RETENTION_DAYS).
 * The database is DATABASE_URL, or the embedded one of a running `npm start`. Safe while the
 * gateway and the workers run: one roll-up at a time, and this one waits for its turn.
 */
import { existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";
import { RUNNING_FILE, type RunningInfo } from "./lib/database";
import { rollUpUsage } from "../server/services/usage-rollup";

const usage = "Usage: npm run usage:rollup [-- --rebuild [--from YYYY-MM-DD] [--until YYYY-MM-DD]]";

function fail(message: string): never {
  console.error(`[usage:rollup] ${message}`);
  process.exit(1);
}

const { values } = (() => {
  try {
    return parseArgs({ options: { rebuild: { type: "boolean" }, from: { type: "string" }, until: { type: "string" }, help: { type: "boolean" } }, strict: true });
  } catch (error) {
    return fail(`${error instanceof Error ? error.message : String(error)}\n${usage}`);
  }
})();
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/).transform((s) => new Date(`${s}T00:00:00Z`)).refine((d) => !Number.isNaN(d.getTime()));
const parseDay = (name: string, value: string | undefined) => {
  if (value === undefined) return undefined;
  const parsed = day.safeParse(value);
  if (!parsed.success) fail(`--${name} must be a date such as 2026-01-31\n${usage}`);
  return parsed.data;
};
const from = parseDay("from", values.from);
const until = parseDay("until", values.until);
if (from && !values.rebuild) fail(`--from goes with --rebuild\n${usage}`);
if (from && until && from >= until) fail("--from must be before --until");

const running: Partial<RunningInfo> = existsSync(RUNNING_FILE) ? JSON.parse(readFileSync(RUNNING_FILE, "utf8")) : {};
if (!process.env.DATABASE_URL) {
  if (!running.embeddedDatabaseUrl) fail("set DATABASE_URL, or start Enclave first (npm start) to use its embedded database");
  process.env.DATABASE_URL = running.embeddedDatabaseUrl;
}

let lastPrint = 0;
try {
  const result = await rollUpUsage({
    rebuild: values.rebuild === true,
    from,
    until,
    onProgress: (p) => {
      const now = Date.now();
      if (now - lastPrint < 2000) return;
      lastPrint = now;
      console.log(p.totalDays && p.deltas === 0 ? `[usage:rollup] rebuilt ${p.days}/${p.totalDays} days` : `[usage:rollup] folded ${p.deltas} deltas`);
    },
  });
  console.log(
    `[usage:rollup] done in ${(result.ms / 1000).toFixed(1)} s: ${values.rebuild ? `${result.days} days recomputed from raw rows, ` : ""}${result.deltas} deltas folded into ${result.hours} hourly rows.`,
  );
} catch (error) {
  const code = (error as { code?: string }).code;
  fail(code === "ECONNREFUSED" ? "cannot reach the database: is Enclave running (npm start), or DATABASE_URL right?" : `failed: ${error instanceof Error ? error.message : String(error)}`);
}
