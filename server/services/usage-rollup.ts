/**
 * Usage roll-ups (docs/usage.md): "UsageHourly" and "UsageDaily" rows per organisation × hour/day ×
 * deployment × key, and their totals over keys, deployments or both ("UsageHourlyTotal",
 * "UsageDailyTotal", "*" in those columns), which every dashboard reads instead of the raw
 * "UsageRecord" rows.
 *
 * Exact under late and concurrent inserts without any cursor: the raw table's statement triggers
 * write a "UsageDelta" row (counts, sums, histograms, errors by status, guardrail verdicts of the statement's rows) in
 * the same transaction as the rows themselves, and a fold deletes deltas and adds them to the
 * hourly and daily rows in one transaction. A record committed after a fold's snapshot leaves its
 * delta for the next fold; one replayed hours late lands in its own (past) hour. Roll-ups plus the
 * deltas left always equal the raw rows (retention excepted: dropping a month of raw rows keeps its
 * roll-ups).
 *
 * `rebuild` recomputes whole days from the raw rows (after an import, or a change of buckets), each
 * day in one REPEATABLE READ transaction that also drops that day's deltas, so the two agree on
 * exactly which rows they saw. One roll-up runs at a time (a session advisory lock).
 */
import pg from "pg";
import { z } from "zod";
import { BUCKET_COUNT } from "../../lib/histogram";

type Client = pg.Client | pg.PoolClient;
type Log = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

/** pg_advisory_lock key of the roll-up (a constant, easy to find in pg_locks). */
export const ROLLUP_LOCK_KEY = 7_245_163_011;

/** Deltas folded per transaction. */
const FOLD_BATCH = 5_000;

const SUMS = ["requests", "errors", "tokensIn", "tokensOut", "costMicroEur", "latencySumMs", "ttftCount", "ttftSumMs", "generationMs", "tokensOutStreamed"] as const;
const INTS = new Set(["requests", "errors", "ttftCount"]);
const BIGINTS = new Set(["tokensIn", "tokensOut", "costMicroEur", "tokensOutStreamed"]);
const HISTOGRAMS = ["latencyBuckets", "ttftBuckets"] as const;
/** Counts keyed by a small integer ({"429": 3}; guardrail verdicts by outcome code, {"9": 2}), summed key by key. */
const COUNTS = ["errorsByStatus", "guardrails"] as const;
const VALUES = [...SUMS, ...HISTOGRAMS, ...COUNTS].map((c) => `"${c}"`).join(", ");
const buckets = Array.from({ length: BUCKET_COUNT }, (_, i) => i + 1);

const cast = (c: string) => (INTS.has(c) ? "::integer" : BIGINTS.has(c) ? "::bigint" : "");
/**
 * The roll-up columns summed over the rows `s` of a GROUP BY. Histograms bucket by bucket
 * (`sum(h[1])`, …): an element of these small inline arrays is cheap to read, and an aggregate
 * written in SQL or PL/pgSQL was five times slower.
 */
const SUM_SELECT = [
  ...SUMS.map((c) => `sum(s."${c}")${cast(c)} AS "${c}"`),
  ...HISTOGRAMS.map((c) => `ARRAY[${buckets.map((i) => `coalesce(sum(s."${c}"[${i}]), 0)`).join(", ")}]::integer[] AS "${c}"`),
  ...COUNTS.map((c) => `usage_status_sum(s."${c}") AS "${c}"`),
].join(",\n  ");
/** ON CONFLICT: the new sums added to the row's. */
const ADD_SET = [
  ...SUMS.map((c) => `"${c}" = t."${c}" + excluded."${c}"`),
  ...HISTOGRAMS.map((c) => `"${c}" = ARRAY[${buckets.map((i) => `coalesce(t."${c}"[${i}], 0) + coalesce(excluded."${c}"[${i}], 0)`).join(", ")}]::integer[]`),
  ...COUNTS.map((c) => `"${c}" = usage_status_add(t."${c}", excluded."${c}")`),
].join(",\n  ");

/** The three totals of the per deployment × key rows `s` of one time bucket ($time): over keys, over deployments, over both ("*"). */
const totalsOf = (time: string, from: string) => `SELECT s."orgId", ${time},
  CASE WHEN grouping(s."deploymentId") = 1 THEN '*' ELSE s."deploymentId" END AS "deploymentId",
  CASE WHEN grouping(s."apiKeyId") = 1 THEN '*' ELSE s."apiKeyId" END AS "apiKeyId",
  ${SUM_SELECT}
FROM ${from}
GROUP BY GROUPING SETS ((s."orgId", ${time}, s."deploymentId"), (s."orgId", ${time}, s."apiKeyId"), (s."orgId", ${time}))`;

const TABLES = [
  { name: "UsageHourly", time: "hour" },
  { name: "UsageDaily", time: "day" },
  { name: "UsageHourlyTotal", time: "hour" },
  { name: "UsageDailyTotal", time: "day" },
] as const;

const upsert = (table: string, time: string, select: string) => `INSERT INTO "${table}" AS t ("orgId", ${time}, "deploymentId", "apiKeyId", ${VALUES})
${select}
ON CONFLICT ("orgId", ${time}, "deploymentId", "apiKeyId") DO UPDATE SET
  ${ADD_SET}
RETURNING t."orgId", t.${time} AS at, t."deploymentId", t."apiKeyId", t.requests`;

/**
 * Folds up to $3 deltas with id <= $1 and hour < $2 into the four roll-up tables, in one statement
 * (one snapshot); says which rows fell to zero (deletes), to be removed.
 */
const FOLD_SQL = `WITH taken AS (
  DELETE FROM "UsageDelta" WHERE id IN (SELECT id FROM "UsageDelta" WHERE id <= $1::bigint AND hour < $2::timestamp ORDER BY id LIMIT $3)
  RETURNING *
), d AS MATERIALIZED (
  -- Materialized: otherwise each bucket's sum below would call usage_histogram again.
  SELECT "orgId", hour, "deploymentId", "apiKeyId", ${SUMS.map((c) => `"${c}"`).join(", ")},
         usage_histogram("latencyBuckets", sign) AS "latencyBuckets", usage_histogram("ttftBuckets", sign) AS "ttftBuckets",
         usage_status_counts("errorStatuses"::integer[], sign) AS "errorsByStatus",
         usage_status_counts("guardrails"::integer[], sign) AS "guardrails"
  FROM taken
), g AS (
  SELECT s."orgId", s.hour, s."deploymentId", s."apiKeyId", ${SUM_SELECT}
  FROM d s GROUP BY 1, 2, 3, 4
), gt AS (
  ${totalsOf("s.hour", "g s")}
), h AS (
  ${upsert("UsageHourly", "hour", "SELECT * FROM g")}
), dd AS (
  ${upsert("UsageDaily", "day", `SELECT s."orgId", s.hour::date, s."deploymentId", s."apiKeyId", ${SUM_SELECT} FROM g s GROUP BY 1, 2, 3, 4`)}
), ht AS (
  ${upsert("UsageHourlyTotal", "hour", "SELECT * FROM gt")}
), dt AS (
  ${upsert("UsageDailyTotal", "day", `SELECT s."orgId", s.hour::date, s."deploymentId", s."apiKeyId", ${SUM_SELECT} FROM gt s GROUP BY 1, 2, 3, 4`)}
)
SELECT (SELECT count(*) FROM taken)::int AS deltas, (SELECT count(*) FROM h)::int AS hours,
  ${["h", "dd", "ht", "dt"].map((cte) => `(SELECT json_agg(json_build_array("orgId", at, "deploymentId", "apiKeyId")) FROM ${cte} WHERE requests = 0) AS "${cte}"`).join(",\n  ")}`;

const dropEmptySql = (table: string, time: string) => `DELETE FROM "${table}" t USING json_array_elements($1::json) e
WHERE t.requests = 0 AND t."orgId" = e->>0 AND t.${time} = (e->>1)::${time === "hour" ? "timestamp" : "date"} AND t."deploymentId" = e->>2 AND t."apiKeyId" = e->>3`;

/**
 * The hourly rows of [$1, $2) from the raw rows: the same figures as the trigger's deltas
 * (`usage_record_deltas`: migrations 20261202010000_usage_rollups and 20261203010000_guardrail_usage);
 * a test checks they agree.
 */
const HOURS_FROM_RAW_SQL = `INSERT INTO "UsageHourly" ("orgId", hour, "deploymentId", "apiKeyId", ${VALUES})
SELECT r."orgId", date_trunc('hour', r."createdAt"), coalesce(r."deploymentId", ''), coalesce(r."apiKeyId", ''),
       count(*), count(*) FILTER (WHERE r.status >= 400),
       sum(r."tokensIn"), sum(r."tokensOut"), sum(r."costMicroEur"),
       sum(r."latencyMs"::float8), count(r."ttftMs"), coalesce(sum(r."ttftMs"::float8), 0),
       coalesce(sum(r."latencyMs"::float8 - r."ttftMs"::float8) FILTER (WHERE r.stream), 0),
       coalesce(sum(r."tokensOut") FILTER (WHERE r.stream AND r."ttftMs" IS NOT NULL), 0),
       usage_histogram(array_agg(width_bucket(r."latencyMs"::float8, usage_histogram_bounds())::smallint), 1),
       usage_histogram(array_agg(width_bucket(r."ttftMs"::float8, usage_histogram_bounds())::smallint) FILTER (WHERE r."ttftMs" IS NOT NULL), 1),
       usage_status_counts(array_agg(r.status::integer) FILTER (WHERE r.status >= 400), 1),
       usage_status_counts(usage_codes_cat(r.guardrails)::integer[], 1)
FROM "UsageRecord" r WHERE r."createdAt" >= $1::timestamp AND r."createdAt" < $2::timestamp
GROUP BY 1, 2, 3, 4`;

/** The rest of a rebuilt day ([$1, $2)), derived from its hourly rows as the fold derives them from deltas. */
const DAY_FROM_HOURS_SQL = [
  `INSERT INTO "UsageHourlyTotal" ("orgId", hour, "deploymentId", "apiKeyId", ${VALUES})
${totalsOf("s.hour", `"UsageHourly" s WHERE s.hour >= $1::timestamp AND s.hour < $2::timestamp`)}`,
  `INSERT INTO "UsageDaily" ("orgId", day, "deploymentId", "apiKeyId", ${VALUES})
SELECT s."orgId", $1::date, s."deploymentId", s."apiKeyId", ${SUM_SELECT}
FROM "UsageHourly" s WHERE s.hour >= $1::timestamp AND s.hour < $2::timestamp GROUP BY 1, 3, 4`,
  `INSERT INTO "UsageDailyTotal" ("orgId", day, "deploymentId", "apiKeyId", ${VALUES})
SELECT s."orgId", $1::date, s."deploymentId", s."apiKeyId", ${SUM_SELECT}
FROM "UsageHourlyTotal" s WHERE s.hour >= $1::timestamp AND s.hour < $2::timestamp GROUP BY 1, 3, 4`,
];

/** The hour's highest allocation per region and GPU type, for the admin capacity history. */
const SAMPLE_CAPACITY_SQL = `INSERT INTO "CapacityHourly" AS c ("regionId", "gpuTypeId", hour, allocated, capacity)
SELECT "regionId", "gpuTypeId", date_trunc('hour', now() AT TIME ZONE 'UTC'), "allocatedGpus", "totalGpus" FROM "RegionCapacity"
ON CONFLICT ("regionId", "gpuTypeId", hour) DO UPDATE SET allocated = GREATEST(c.allocated, excluded.allocated), capacity = excluded.capacity`;

// ---- retention (read by workers/jobs/maintain-partitions.ts too) ----

const days = (fallback: number) => z.coerce.number().int().positive().max(36_500).default(fallback);
const retentionSchema = z.object({
  // Six months: the AI Act's minimum for logs kept by deployers of high-risk systems (Art. 26(6)).
  TRACE_RETENTION_DAYS: days(180),
  // Raw usage: 13 months (last year's same month stays comparable); the roll-ups are kept.
  USAGE_RETENTION_DAYS: days(400),
});

export interface Retention {
  traceDays: number;
  usageDays: number;
}

/** TRACE_RETENTION_DAYS and USAGE_RETENTION_DAYS, validated (a bad value throws with its name). */
export function retentionFromEnv(env: Record<string, string | undefined> = process.env): Retention {
  const parsed = retentionSchema.safeParse({ TRACE_RETENTION_DAYS: env.TRACE_RETENTION_DAYS || undefined, USAGE_RETENTION_DAYS: env.USAGE_RETENTION_DAYS || undefined });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${String(issue.path[0])} must be a whole number of days from 1 to 36500`);
  }
  return { traceDays: parsed.data.TRACE_RETENTION_DAYS, usageDays: parsed.data.USAGE_RETENTION_DAYS };
}

// ---- the roll-up ----

export interface RollUpOptions {
  /** A connection to use (it must not be inside a transaction); otherwise one to DATABASE_URL is opened and closed. */
  client?: Client;
  /** Fold only the deltas of hours before this; with `rebuild`, the end of the last day rebuilt. Default: everything. */
  until?: Date;
  /** Recompute whole days from the raw rows, then fold what is left. */
  rebuild?: boolean;
  /** With `rebuild`: the first day (UTC) to recompute. Default: the first day with raw rows, not before the usage retention. */
  from?: Date;
  /** When another roll-up holds the lock: wait for it (true, the command) or return at once (false, the workers' tick). */
  wait?: boolean;
  log?: Log;
  /** Called after each transaction (the command prints progress). */
  onProgress?: (p: { deltas: number; days: number; totalDays: number }) => void;
}

export interface RollUpResult {
  /** Another roll-up held the lock (only with `wait: false`). */
  skipped: boolean;
  /** Deltas folded. */
  deltas: number;
  /** Hourly rows written by the folds. */
  hours: number;
  /** Days recomputed from raw rows (rebuild). */
  days: number;
  ms: number;
}

const DAY_MS = 86_400_000;
const utcDay = (t: Date) => new Date(Math.floor(t.getTime() / DAY_MS) * DAY_MS);
const sqlTime = (t: Date) => t.toISOString().replace("T", " ").replace("Z", "");

/**
 * Runs the roll-up to completion: every delta committed when it starts (and before `until`) is in
 * the hourly and daily rows when it returns; with `rebuild`, the days from `from` are first
 * recomputed from the raw rows.
 */
export async function rollUpUsage(options: RollUpOptions = {}): Promise<RollUpResult> {
  const started = performance.now();
  const own = options.client ? null : new pg.Client({ connectionString: requiredDatabaseUrl(), application_name: "enclave-usage-rollup" });
  const client = options.client ?? own!;
  if (own) await own.connect();
  try {
    if (options.wait === false) {
      const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [ROLLUP_LOCK_KEY]);
      if (!rows[0].locked) return { skipped: true, deltas: 0, hours: 0, days: 0, ms: performance.now() - started };
    } else {
      await client.query("SELECT pg_advisory_lock($1)", [ROLLUP_LOCK_KEY]);
    }
    try {
      const result = { skipped: false, deltas: 0, hours: 0, days: 0, ms: 0 };
      if (options.rebuild) result.days = await rebuildDays(client, options);
      const folded = await fold(client, options, result.days);
      result.deltas = folded.deltas;
      result.hours = folded.hours;
      result.ms = performance.now() - started;
      return result;
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [ROLLUP_LOCK_KEY]);
    }
  } finally {
    if (own) await own.end();
  }
}

async function fold(client: Client, options: RollUpOptions, days: number) {
  const until = options.until ? sqlTime(options.until) : "infinity";
  const { rows } = await client.query<{ max: string | null }>(`SELECT max(id)::text AS max FROM "UsageDelta"`);
  const max = rows[0].max;
  let deltas = 0;
  let hours = 0;
  if (max === null) return { deltas, hours };
  for (;;) {
    await client.query("BEGIN");
    try {
      const r = (await client.query<{ deltas: number; hours: number } & Record<"h" | "dd" | "ht" | "dt", unknown[] | null>>(FOLD_SQL, [max, until, FOLD_BATCH])).rows[0];
      for (const [cte, t] of [["h", TABLES[0]], ["dd", TABLES[1]], ["ht", TABLES[2]], ["dt", TABLES[3]]] as const) {
        if (r[cte]) await client.query(dropEmptySql(t.name, t.time), [JSON.stringify(r[cte])]);
      }
      await client.query("COMMIT");
      deltas += r.deltas;
      hours += r.hours;
      if (r.deltas > 0) options.onProgress?.({ deltas, days, totalDays: days });
      if (r.deltas < FOLD_BATCH) return { deltas, hours };
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    }
  }
}

async function rebuildDays(client: Client, options: RollUpOptions): Promise<number> {
  // Epoch milliseconds: pg would read a timestamp without time zone in the process's local zone.
  const { rows } = await client.query<{ first: number | null; last: number | null }>(
    `SELECT (extract(epoch FROM min("createdAt")) * 1000)::float8 AS first, (extract(epoch FROM max("createdAt")) * 1000)::float8 AS last FROM "UsageRecord"`,
  );
  if (rows[0].first === null || rows[0].last === null) return 0;
  const first = new Date(rows[0].first);
  const last = new Date(rows[0].last);
  const retained = utcDay(new Date(Date.now() - retentionFromEnv().usageDays * DAY_MS + DAY_MS));
  // The first fully retained day: earlier days may have lost raw rows to retention, and their roll-ups are kept.
  const start = utcDay(options.from ?? (first > retained ? first : retained));
  let day = start;
  const end = options.until && options.until < last ? options.until : new Date(last.getTime() + 1);
  const totalDays = Math.max(0, Math.ceil((end.getTime() - day.getTime()) / DAY_MS));
  let done = 0;
  for (; day < end; day = new Date(day.getTime() + DAY_MS)) {
    const next = new Date(day.getTime() + DAY_MS);
    const a = sqlTime(day);
    const b = sqlTime(next);
    // One snapshot for the deltas dropped and the raw rows read: a row committed meanwhile keeps its delta.
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
    try {
      await client.query("SET LOCAL work_mem = '64MB'");
      await client.query(`DELETE FROM "UsageDelta" WHERE hour >= $1::timestamp AND hour < $2::timestamp`, [a, b]);
      for (const t of TABLES) {
        if (t.time === "hour") await client.query(`DELETE FROM "${t.name}" WHERE hour >= $1::timestamp AND hour < $2::timestamp`, [a, b]);
        else await client.query(`DELETE FROM "${t.name}" WHERE day = $1::date`, [a]);
      }
      await client.query(HOURS_FROM_RAW_SQL, [a, b]);
      for (const statement of DAY_FROM_HOURS_SQL) await client.query(statement, [a, b]);
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    }
    done++;
    options.onProgress?.({ deltas: 0, days: done, totalDays });
  }
  options.log?.("info", "usage roll-ups rebuilt from raw rows", { from: start.toISOString().slice(0, 10), days: done });
  return done;
}

/** Records this hour's GPU allocation per region and GPU type (keeps the hour's highest). */
export async function sampleCapacity(client: Client): Promise<void> {
  await client.query(SAMPLE_CAPACITY_SQL);
}

function requiredDatabaseUrl(): string {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error("DATABASE_URL is not set");
  return url;
}
