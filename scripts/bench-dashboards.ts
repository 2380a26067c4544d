/**
 * `npm run bench:dashboards`: the usage dashboards at scale, measured on this machine, written to
 * the "Dashboards" section of docs/benchmarks.md (between its markers; the rest is left as it is).
 * A benchmark, not a test: it asserts nothing, it reports.
 *
 * On a throw-away embedded PostgreSQL (default settings, as `npm start` runs it):
 * 1. Fixtures: one organisation with BENCH_DEPLOYMENTS (10) deployments and BENCH_KEYS (20) keys,
 *    BENCH_OTHER_ORGS (20) other organisations, GPU time metered every hour.
 * 2. For each size of BENCH_SIZES (default 1,000,000 then 10,000,000 records for the one
 *    organisation over the last 30 days; BENCH_OTHERS, 1,000,000, in the other organisations at the
 *    first size), records are added with INSERT … SELECT generate_series through "UsageRecord" (its
 *    triggers write the deltas, as for any insert), then VACUUM ANALYZE, then the roll-up runs to
 *    completion (`rollUpUsage()`, the workers' fold) and again as a rebuild from raw rows
 *    (`npm run usage:rollup -- --rebuild`), both timed.
 * 3. Every dashboard read model, warm: 2 calls, then BENCH_RUNS (20) timed; p50 and p95.
 * At the first size it also measures the bytes per raw row (all partitions and their indexes /
 * rows), the same rows in the layout before this change (cuid + unique request id, two more
 * indexes), and what the batch INSERT of the gateway costs with foreign keys and without triggers.
 * BENCH_OUTPUT: another file ("-": none).
 */
import { createHash } from "node:crypto";
import { rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { migrate } from "./lib/database";
import { startEmbeddedPostgres } from "./lib/embedded-postgres";
import { writeBenchmarkSection } from "./lib/benchmarks-doc";

const ROOT = path.resolve(import.meta.dirname, "..");
const SECTION_START = "<!-- dashboards-bench:start (written by npm run bench:dashboards) -->";
const SECTION_END = "<!-- dashboards-bench:end -->";
const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const SIZES = (process.env.BENCH_SIZES ?? "1000000,10000000").split(",").map(Number);
const OTHERS = num("BENCH_OTHERS", 1_000_000);
const DEPLOYMENTS = num("BENCH_DEPLOYMENTS", 10);
const KEYS = num("BENCH_KEYS", 20);
const OTHER_ORGS = num("BENCH_OTHER_ORGS", 20);
const RUNS = num("BENCH_RUNS", 20);
const CHUNK = 500_000;
const DAY = 86_400_000;
const SPAN = 30 * DAY;
const output = process.env.BENCH_OUTPUT === "-" ? null : (process.env.BENCH_OUTPUT ?? path.join(ROOT, "docs", "benchmarks.md"));

const log = (line: string) => console.log(`[bench:dashboards] ${line}`);
const ms = (t: number) => (t < 10 ? t.toFixed(2) : t < 100 ? t.toFixed(1) : t.toFixed(0));
const secs = (t: number) => `${(t / 1000).toFixed(1)} s`;
const fmt = (n: number) => n.toLocaleString("en-US");

function quantile(sorted: number[], q: number) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

async function time<T>(fn: () => Promise<T>): Promise<[number, T]> {
  const t = performance.now();
  const r = await fn();
  return [performance.now() - t, r];
}

const dataDir = path.join(ROOT, ".data", `bench-dashboards-${process.pid}`);
rmSync(dataDir, { recursive: true, force: true });
const database = await startEmbeddedPostgres({ dataDir, database: "bench", persistent: false, log });
let exitCode = 0;
try {
  await migrate(database.url);
  process.env.DATABASE_URL = database.url;
  await run(database.url);
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  const { db } = await import("../server/db");
  await db.$disconnect().catch(() => {});
  await database.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);

async function run(url: string) {
  const { db } = await import("../server/db");
  const usage = await import("../server/services/usage");
  const { listApiKeys } = await import("../server/services/api-keys");
  const { listOrganizationsForAdmins, organizationOverview } = await import("../server/services/organizations");
  const { rollUpUsage } = await import("../server/services/usage-rollup");
  const { INSERT_SQL, insertParams } = await import("../server/gateway/usage-sql");

  const sql = new pg.Client({ connectionString: url, options: "-c TimeZone=UTC" });
  await sql.connect();
  // Loading only: fewer checkpoints, no wait for the WAL flush at each commit.
  await sql.query("ALTER SYSTEM SET max_wal_size = '8GB'");
  await sql.query("SELECT pg_reload_conf()");
  await sql.query("SET synchronous_commit = off");

  // ---- fixtures ----
  const suffix = () => createHash("md5").update(String(Math.random())).digest("hex").slice(0, 8);
  const user = await db.user.create({ data: { email: `bench-${suffix()}@example.test`, name: "Bench" } });
  const gpuType = await db.gpuType.create({ data: { code: `BENCH-${suffix()}`, name: "Bench GPU", vendor: "bench", memoryGb: 80 } });
  const regions = await Promise.all(
    ["FR", "DE"].map((country) =>
      db.region.create({
        data: {
          code: `bench-${country.toLowerCase()}-${suffix()}`, name: `Bench ${country}`, provider: "Bench", country, city: "City", jurisdiction: country, certifications: [],
          driverKind: "LOCAL", carbonIntensityGco2Kwh: 40, capacities: { create: { gpuTypeId: gpuType.id, totalGpus: 64, allocatedGpus: 24, priceCentsPerGpuHour: 300 } },
        },
      }),
    ),
  );
  const model = await db.catalogModel.create({
    data: {
      slug: `bench-${suffix()}`, family: "bench", name: "Bench model", version: "1", parameterCount: 1000n, contextLength: 2048, license: "Apache-2.0",
      openWeights: true, openData: true, origin: "bench", artifactUri: "local://bench.gguf", artifactSha256: "0".repeat(64), runtime: "LLAMA_CPP", gpuMemoryGb: 1,
    },
  });
  const makeOrg = async (name: string, deployments: number, keys: number) => {
    const org = await db.organization.create({ data: { name, slug: `${name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}-${suffix()}` } });
    await db.membership.create({ data: { orgId: org.id, userId: user.id, role: "OWNER" } });
    const deps = [];
    for (let i = 0; i < deployments; i++) {
      deps.push(
        await db.deployment.create({
          data: { orgId: org.id, name: `dep-${i}`, catalogModelId: model.id, regionId: regions[i % 2].id, gpuTypeId: gpuType.id, gpusPerReplica: 1, dataClassification: "INTERNAL", createdById: user.id, phase: "RUNNING" },
        }),
      );
    }
    const apiKeys = [];
    for (let i = 0; i < keys; i++) {
      apiKeys.push(
        await db.apiKey.create({
          data: { orgId: org.id, name: `key-${i}`, prefix: `enc_b${suffix()}`, secretHash: "x", scopes: ["inference"], createdById: user.id, monthlyBudgetCents: 100_000, allowedDeploymentIds: [deps[i % deps.length].id] },
        }),
      );
    }
    return { org, deps: deps.map((d) => d.id), keys: apiKeys.map((k) => k.id) };
  };
  const main = await makeOrg("Bench main", DEPLOYMENTS, KEYS);
  const others: Awaited<ReturnType<typeof makeOrg>>[] = [];
  for (let i = 0; i < OTHER_ORGS; i++) others.push(await makeOrg(`Bench other ${i}`, 1, 1));
  const now = Date.now();
  const start = new Date(now - SPAN);
  // GPU time: each deployment metered in hourly slices over the 30 days (what the spend figures add).
  await sql.query(
    `INSERT INTO "GpuUsage" (id, "orgId", "deploymentId", "regionId", "gpuTypeId", "gpuCount", "periodStart", "periodEnd", "gpuSeconds", "costMicroEur")
     SELECT md5(d.id || h::text), d."orgId", d.id, d."regionId", d."gpuTypeId", 1, $1::timestamp + h * interval '1 hour', $1::timestamp + (h + 1) * interval '1 hour', 3600, 3000000
     FROM "Deployment" d CROSS JOIN generate_series(0, 719) h WHERE d."orgId" = ANY($2)`,
    [start.toISOString(), [main.org.id, ...others.map((o) => o.org.id)]],
  );
  log(`fixtures: 1 + ${OTHER_ORGS} organisations, ${DEPLOYMENTS} deployments and ${KEYS} keys in the main one`);

  /**
   * Records [from, to) of a series of `total` spread evenly over the 30 days (then jittered), with
   * latencies from 1 ms to ~3 s (lognormal-ish), 70 % streamed, 2 % errors.
   */
  const LOAD_SQL = `INSERT INTO "UsageRecord" ("createdAt", id, "tokensIn", "tokensOut", "costMicroEur", "latencyMs", "ttftMs", status, stream, "orgId", "apiKeyId", "deploymentId", endpoint)
    SELECT $1::timestamp + ((g.i + g.j) * $2::float8) * interval '1 millisecond', md5($3 || g.i)::uuid,
           (50 + random() * 2000)::int, (10 + random() * 800)::int, (random() * 3000)::int,
           g.lat, CASE WHEN g.s THEN g.lat * (0.05 + random() * 0.4) ELSE g.lat * 0.97 END,
           CASE WHEN random() < 0.02 THEN (ARRAY[429, 499, 502, 503])[1 + floor(random() * 4)::int] ELSE 200 END,
           g.s, o.orgs[1 + g.i % cardinality(o.orgs)], o.keys[1 + g.i % cardinality(o.keys)], o.deps[1 + (CASE WHEN cardinality(o.orgs) > 1 THEN g.i ELSE g.i / 7 END) % cardinality(o.deps)], '/v1/chat/completions'
    FROM (SELECT i, random() AS j, exp(random() * 8)::real AS lat, random() < 0.7 AS s FROM generate_series($4::bigint, $5::bigint - 1) i) g,
         (SELECT $6::text[] AS orgs, $7::text[] AS keys, $8::text[] AS deps) o`;
  const load = async (tag: string, total: number, orgs: string[], keys: string[], deps: string[]) => {
    const step = SPAN / total;
    for (let from = 0; from < total; from += CHUNK) {
      await sql.query(LOAD_SQL, [start.toISOString(), step, tag, from, Math.min(total, from + CHUNK), orgs, keys, deps]);
    }
  };

  const report: SizeReport[] = [];
  let loaded = 0;
  let storage: Storage | null = null;
  let inserts: InsertCost | null = null;
  for (const size of SIZES) {
    const [loadMs] = await time(async () => {
      // The other organisations: one key and deployment each, same index in the three arrays.
      if (loaded === 0 && OTHERS > 0) await load("o", OTHERS, others.map((o) => o.org.id), others.map((o) => o.keys[0]), others.map((o) => o.deps[0]));
      await load(`m${size}_`, size - loaded, [main.org.id], main.keys, main.deps);
    });
    const added = size - loaded + (loaded === 0 ? OTHERS : 0);
    loaded = size;
    log(`${fmt(size)}: loaded ${fmt(added)} records in ${secs(loadMs)} (${fmt(Math.round(added / (loadMs / 1000)))} rows/s, deltas included)`);
    const [vacuumMs] = await time(() => sql.query(`VACUUM (ANALYZE) "UsageRecord", "UsageDelta"`));
    const deltas = Number((await sql.query(`SELECT count(*) AS n FROM "UsageDelta"`)).rows[0].n);
    const [foldMs, folded] = await time(() => rollUpUsage());
    log(`${fmt(size)}: vacuum ${secs(vacuumMs)}; roll-up folded ${fmt(folded.deltas)} deltas in ${secs(foldMs)}`);
    const [rebuildMs, rebuilt] = await time(() => rollUpUsage({ rebuild: true }));
    log(`${fmt(size)}: rebuild from raw rows: ${rebuilt.days} days in ${secs(rebuildMs)}`);
    await sql.query(`VACUUM (ANALYZE) "UsageHourly", "UsageDaily", "UsageDelta", "GpuUsage"`);
    const rollupRows = (await sql.query(`SELECT (SELECT count(*) FROM "UsageHourly")::int AS hourly, (SELECT count(*) FROM "UsageDaily")::int AS daily`)).rows[0];
    const raw = await rawSize(sql, "UsageRecord");
    const rollups = await rollupSizes(sql);

    if (!storage) storage = await measureStorage(sql);
    // At the last size only: its inserted-then-deleted rows would count in the next size's bytes per row.
    if (size === SIZES[SIZES.length - 1]) {
      inserts = await measureInserts(sql, INSERT_SQL, insertParams, main);
      await rollUpUsage();
    }
    const steady = await measureSteadyFold(sql, main, rollUpUsage);
    log(`${fmt(size)}: steady-state fold: ${fmt(steady.deltas)} deltas of ${fmt(steady.records)} records in ${ms(steady.ms)} ms`);

    const timings: Timing[] = [];
    const measure = async (name: string, fn: () => Promise<unknown>) => {
      for (let i = 0; i < 2; i++) await fn();
      const samples: number[] = [];
      for (let i = 0; i < RUNS; i++) samples.push((await time(fn))[0]);
      samples.sort((a, b) => a - b);
      timings.push({ name, p50: quantile(samples, 0.5), p95: quantile(samples, 0.95) });
    };
    const orgId = main.org.id;
    for (const period of usage.USAGE_PERIODS) {
      await measure(`usage summary ${period}`, () => usage.usageSummary({ orgId, period }));
      await measure(`usage latency ${period}`, () => usage.usageLatency({ orgId, period }));
      for (const by of ["deployment", "key", "region"] as const) await measure(`usage by ${by} ${period}`, () => usage.usageBreakdown({ orgId, period, by }));
      await measure(`deployment summary ${period}`, () => usage.usageSummary({ orgId, period, deploymentId: main.deps[0] }));
    }
    for (const period of usage.USAGE_PERIODS) {
      await measure(`admin capacity ${period}`, () => usage.capacityHistory({ period }));
      await measure(`admin organisations usage ${period}`, () => usage.organizationsUsage({ period }));
      await measure(`admin slowest deployments ${period}`, () => usage.slowestDeployments({ period, limit: 10 }));
    }
    await measure("organisation overview", () => organizationOverview(orgId));
    await measure("API keys list", () => listApiKeys(orgId));
    await measure("admin organisations list", () => listOrganizationsForAdmins());
    for (const t of timings) log(`${fmt(size)}: ${t.name}: p50 ${ms(t.p50)} ms, p95 ${ms(t.p95)} ms`);
    report.push({ size, added, loadMs, foldMs, folded: folded.deltas, deltas, rebuildMs, rebuiltDays: rebuilt.days, rollupRows, raw, rollups, steady, timings });
  }
  await sql.end();
  const section = render(report, storage!, inserts!);
  console.log(`\n${section}`);
  if (output) {
    writeBenchmarkSection(output, { start: SECTION_START, end: SECTION_END }, section);
    log(`written to ${path.relative(ROOT, output)}`);
  }
}

interface Timing {
  name: string;
  p50: number;
  p95: number;
}
interface SizeReport {
  size: number;
  added: number;
  loadMs: number;
  foldMs: number;
  folded: number;
  deltas: number;
  rebuildMs: number;
  rebuiltDays: number;
  rollupRows: { hourly: number; daily: number };
  raw: RawSize;
  rollups: RollupSize[];
  steady: SteadyFold;
  timings: Timing[];
}
interface SteadyFold {
  records: number;
  deltas: number;
  ms: number;
}
interface RawSize {
  rows: number;
  heap: number;
  total: number;
}
interface RollupSize {
  table: string;
  rows: number;
  /** Average size of a row's data (pg_column_size of the row). */
  rowBytes: number;
  /** On disk, indexes included (dead versions from the fold's and the rebuild's updates too). */
  totalBytes: number;
}
interface Storage {
  rows: number;
  bytesPerRow: number;
  heapPerRow: number;
  indexPerRow: number;
  oldBytesPerRow: number;
  oldHeapPerRow: number;
  oldIndexPerRow: number;
}
interface InsertCost {
  batch: number;
  batches: number;
  /** Median ms per batch. */
  current: number;
  withForeignKeys: number;
  withoutTriggers: number;
}

/**
 * A tick of the workers in steady state: 40 statements of 500 records of the last minutes (what 15 s of
 * gateway batches at ~1,300 req/s write), over every deployment × key of the organisation, then one
 * fold, timed. The records are deleted again (and that folded), so the reads see the load's figures.
 */
async function measureSteadyFold(
  sql: pg.Client,
  main: { org: { id: string }; keys: string[]; deps: string[] },
  rollUp: (o?: { client?: pg.Client }) => Promise<{ deltas: number }>,
): Promise<SteadyFold> {
  const STATEMENTS = 40;
  const PER = 500;
  const tag = `steady_${Date.now()}_`;
  for (let i = 0; i < STATEMENTS; i++) {
    await sql.query(
      `INSERT INTO "UsageRecord" ("createdAt", id, "tokensIn", "tokensOut", "costMicroEur", "latencyMs", "ttftMs", status, stream, "orgId", "apiKeyId", "deploymentId", endpoint)
       SELECT (now() AT TIME ZONE 'UTC') - random() * interval '10 seconds', md5($1 || g.i)::uuid, 100, 200, 30, g.lat, g.lat * 0.3, 200, true,
              $2, ($3::text[])[1 + g.i % cardinality($3::text[])], ($4::text[])[1 + (g.i / 7) % cardinality($4::text[])], '/v1/chat/completions'
       FROM (SELECT i, exp(random() * 8)::real AS lat FROM generate_series($5::int, $5::int + $6::int - 1) i) g`,
      [tag, main.org.id, main.keys, main.deps, i * PER, PER],
    );
  }
  const [t, folded] = await time(() => rollUp({ client: sql }));
  await sql.query(`DELETE FROM "UsageRecord" WHERE id IN (SELECT md5($1 || i)::uuid FROM generate_series(0, $2::int - 1) i)`, [tag, STATEMENTS * PER]);
  await rollUp({ client: sql });
  return { records: STATEMENTS * PER, deltas: folded.deltas, ms: t };
}

/** Rows, heap bytes and total bytes (indexes included) of a table and all its partitions. */
async function rawSize(sql: pg.Client, table: string): Promise<RawSize> {
  const r = (
    await sql.query<{ rows: string; heap: string; total: string }>(
      `SELECT (SELECT count(*) FROM "${table}") AS rows,
              coalesce(sum(pg_table_size(c.oid)), 0) AS heap, coalesce(sum(pg_total_relation_size(c.oid)), 0) AS total
       FROM pg_class c WHERE c.oid = '"${table}"'::regclass OR c.oid IN (SELECT inhrelid FROM pg_inherits WHERE inhparent = '"${table}"'::regclass)`,
    )
  ).rows[0];
  return { rows: Number(r.rows), heap: Number(r.heap), total: Number(r.total) };
}

async function rollupSizes(sql: pg.Client): Promise<RollupSize[]> {
  const out: RollupSize[] = [];
  for (const table of ["UsageHourly", "UsageHourlyTotal", "UsageDaily", "UsageDailyTotal"]) {
    const r = (await sql.query<{ rows: string; avg: string | null; total: string }>(`SELECT count(*) AS rows, avg(pg_column_size(t.*)) AS avg, pg_total_relation_size('"${table}"') AS total FROM "${table}" t`)).rows[0];
    out.push({ table, rows: Number(r.rows), rowBytes: Number(r.avg ?? 0), totalBytes: Number(r.total) });
  }
  return out;
}

/** Bytes per raw row now, and for the same rows in the layout before (cuid id, unique request id, two indexes). */
async function measureStorage(sql: pg.Client): Promise<Storage> {
  await sql.query("CHECKPOINT");
  const sizes = async (table: string) => {
    const r = await rawSize(sql, table);
    return { rows: String(r.rows), heap: String(r.heap), total: String(r.total) };
  };
  const now = await sizes("UsageRecord");
  log("storage: copying the rows into the layout before this change, for comparison");
  await sql.query(`CREATE TABLE "UsageRecordBefore" (
    id TEXT NOT NULL, "requestId" TEXT NOT NULL, "orgId" TEXT NOT NULL, "apiKeyId" TEXT, "deploymentId" TEXT, endpoint TEXT NOT NULL,
    "tokensIn" INTEGER NOT NULL, "tokensOut" INTEGER NOT NULL, "latencyMs" DOUBLE PRECISION NOT NULL, "ttftMs" DOUBLE PRECISION, status INTEGER NOT NULL,
    "costMicroEur" INTEGER NOT NULL, "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP, CONSTRAINT "UsageRecordBefore_pkey" PRIMARY KEY (id))`);
  // A cuid is 25 characters; the gateway's request id "req_<8 time36><10 hex>_<counter36>" about 27.
  await sql.query(`INSERT INTO "UsageRecordBefore" SELECT 'c' || substr(md5(id::text), 1, 24), 'req_' || substr(md5(id::text), 9, 18) || '_' || to_hex((random() * 1e6)::int),
    "orgId", "apiKeyId", "deploymentId", endpoint, "tokensIn", "tokensOut", "latencyMs", "ttftMs", status, "costMicroEur", "createdAt" FROM "UsageRecord"`);
  await sql.query(`CREATE UNIQUE INDEX ON "UsageRecordBefore"("requestId")`);
  await sql.query(`CREATE INDEX ON "UsageRecordBefore"("orgId", "createdAt")`);
  await sql.query(`CREATE INDEX ON "UsageRecordBefore"("apiKeyId", "createdAt")`);
  await sql.query(`VACUUM (ANALYZE) "UsageRecordBefore"`);
  const before = await sizes("UsageRecordBefore");
  await sql.query(`DROP TABLE "UsageRecordBefore"`);
  const rows = Number(now.rows);
  const per = (x: string, n: string) => Number(x) / Number(n);
  return {
    rows,
    bytesPerRow: per(now.total, now.rows),
    heapPerRow: per(now.heap, now.rows),
    indexPerRow: per(String(Number(now.total) - Number(now.heap)), now.rows),
    oldBytesPerRow: per(before.total, before.rows),
    oldHeapPerRow: per(before.heap, before.rows),
    oldIndexPerRow: per(String(Number(before.total) - Number(before.heap)), before.rows),
  };
}

/** The gateway's batch INSERT (500 records) as it is, with foreign keys added, and with the delta triggers off. */
async function measureInserts(
  sql: pg.Client,
  insertSql: string,
  params: (e: import("../server/gateway/usage-sql").UsageEntry[]) => unknown[],
  main: { org: { id: string }; keys: string[]; deps: string[] },
): Promise<InsertCost> {
  const BATCH = 500;
  const ROUNDS = 5;
  const PER_ROUND = 20;
  let n = 0;
  const batch = () =>
    Array.from({ length: BATCH }, (_, i) => ({
      requestId: `req_bench_insert_${++n}`, orgId: main.org.id, apiKeyId: main.keys[i % main.keys.length], deploymentId: main.deps[i % main.deps.length], endpoint: "/v1/chat/completions",
      tokensIn: 100, tokensOut: 200, latencyMs: 100 + i, ttftMs: 20, status: 200, costMicroEur: 30, at: Date.now() - 1000 + i, stream: true,
    }));
  const runRound = async () => {
    const t: number[] = [];
    for (let i = 0; i < PER_ROUND; i++) {
      const p = params(batch());
      t.push((await time(() => sql.query(insertSql, p)))[0]);
    }
    return t;
  };
  const modes = {
    current: async () => {},
    withForeignKeys: async () => {
      await sql.query(`ALTER TABLE "UsageRecord" ADD CONSTRAINT "bench_org_fkey" FOREIGN KEY ("orgId") REFERENCES "Organization"(id) ON DELETE CASCADE,
        ADD CONSTRAINT "bench_key_fkey" FOREIGN KEY ("apiKeyId") REFERENCES "ApiKey"(id) ON DELETE SET NULL,
        ADD CONSTRAINT "bench_dep_fkey" FOREIGN KEY ("deploymentId") REFERENCES "Deployment"(id) ON DELETE SET NULL`);
    },
    withoutTriggers: async () => {
      await sql.query(`ALTER TABLE "UsageRecord" DISABLE TRIGGER "UsageRecord_inserted"`);
    },
  };
  const undo = {
    current: async () => {},
    withForeignKeys: async () => {
      await sql.query(`ALTER TABLE "UsageRecord" DROP CONSTRAINT "bench_org_fkey", DROP CONSTRAINT "bench_key_fkey", DROP CONSTRAINT "bench_dep_fkey"`);
    },
    withoutTriggers: async () => {
      await sql.query(`ALTER TABLE "UsageRecord" ENABLE TRIGGER "UsageRecord_inserted"`);
    },
  };
  log("insert cost: the gateway's batch INSERT with and without foreign keys and triggers");
  await sql.query("SET synchronous_commit = on");
  const samples: Record<keyof typeof modes, number[]> = { current: [], withForeignKeys: [], withoutTriggers: [] };
  await runRound(); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of Object.keys(modes) as (keyof typeof modes)[]) {
      await modes[mode]();
      samples[mode].push(...(await runRound()));
      await undo[mode]();
    }
  }
  await sql.query("SET synchronous_commit = off");
  // The test rows go again (their deltas too), so the roll-ups read below are those of the load.
  await sql.query(`DELETE FROM "UsageRecord" WHERE id IN (SELECT md5('req_bench_insert_' || i)::uuid FROM generate_series(1, $1) i)`, [n]);
  const median = (x: number[]) => quantile([...x].sort((a, b) => a - b), 0.5);
  return { batch: BATCH, batches: ROUNDS * PER_ROUND, current: median(samples.current), withForeignKeys: median(samples.withForeignKeys), withoutTriggers: median(samples.withoutTriggers) };
}

function render(report: SizeReport[], storage: Storage, inserts: InsertCost) {
  const cpuModel = os.cpus()[0]?.model ?? "unknown CPU";
  const names = report[0].timings.map((t) => t.name);
  const first = report[0];
  const last = report[report.length - 1];
  const byName = (r: SizeReport, name: string) => r.timings.find((t) => t.name === name)!;
  const rows = names.map((name) => {
    const cells = report.map((r) => `${ms(byName(r, name).p50)} / ${ms(byName(r, name).p95)}`);
    const ratio = report.length > 1 ? (byName(last, name).p95 / byName(first, name).p95).toFixed(2) : "";
    return `| ${name} | ${cells.join(" | ")} | ${ratio} |`;
  });
  const worst = last.timings.reduce((a, b) => (b.p95 > a.p95 ? b : a));
  const worstRatio = report.length > 1 ? Math.max(...names.map((n) => byName(last, n).p95 / Math.max(byName(first, n).p95, 0.01))) : 1;
  const sizeHeads = report.map((r) => `${fmt(r.size)}: p50 / p95 (ms)`).join(" | ");
  return `## Dashboards

Measured by \`npm run bench:dashboards\` (\`scripts/bench-dashboards.ts\`); this section is rewritten by each run.

- **Date**: ${new Date().toISOString()}
- **Machine**: ${cpuModel}, ${os.cpus().length} CPU cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB RAM, ${os.type()} ${os.release()}; Node ${process.version}; embedded PostgreSQL with its default settings (shared_buffers 128 MB)
- **Load average at the end** (the machine is shared): ${os.loadavg().map((l) => l.toFixed(2)).join(", ")}

### Method

One organisation with ${DEPLOYMENTS} deployments and ${KEYS} API keys; ${fmt(OTHERS)} more records in ${OTHER_ORGS} other organisations;
records spread over the last 30 days (latency 1 ms – 3 s, 70 % streamed, 2 % errors), GPU time metered hourly for every
deployment. Records are added with \`INSERT … SELECT generate_series\` through \`"UsageRecord"\` (its triggers write the
deltas as for the gateway's inserts), then \`VACUUM ANALYZE\`, then the roll-up runs to completion (the workers' fold of
the deltas), then again as a rebuild from the raw rows (\`npm run usage:rollup -- --rebuild\`). Each read function is the
project's own (\`server/services/usage.ts\`, \`api-keys.ts\`, \`organizations.ts\`), called in-process through Prisma, warm:
2 calls, then ${RUNS} timed; p50 / p95 in milliseconds.

### Loading and rolling up

The fold here is the worst case, a bulk load: its deltas cover 30 days, so nearly every delta updates rows
of its own. In steady state the deltas of a 15-second tick share the current hour's rows: "steady tick" is
one fold after 40 statements of 500 records of the last seconds over every deployment × key (15 s of
gateway batches at ~1,300 requests/s).

| records in the organisation | added | load | deltas | roll-up (fold) | rebuild from raw rows | hourly / daily roll-up rows | steady tick: records, deltas, fold |
| --- | --- | --- | --- | --- | --- | --- | --- |
${report.map((r) => `| ${fmt(r.size)} | ${fmt(r.added)} | ${secs(r.loadMs)} (${fmt(Math.round(r.added / (r.loadMs / 1000)))}/s) | ${fmt(r.deltas)} | ${secs(r.foldMs)} | ${secs(r.rebuildMs)} (${r.rebuiltDays} days) | ${fmt(r.rollupRows.hourly)} / ${fmt(r.rollupRows.daily)} | ${fmt(r.steady.records)}, ${fmt(r.steady.deltas)}, ${ms(r.steady.ms)} ms |`).join("\n")}

### Read models (warm)

| read model | ${sizeHeads} | p95 ratio ${report.length > 1 ? `${fmt(last.size)} / ${fmt(first.size)}` : ""} |
| --- | ${report.map(() => "---").join(" | ")} | --- |
${rows.join("\n")}

Targets: every read under 300 ms at p95 at ${fmt(last.size)} records (slowest: ${worst.name}, ${ms(worst.p95)} ms — ${worst.p95 < 300 ? "met" : "missed"}), and the
${fmt(last.size)} figure at most 2× the ${fmt(first.size)} one (largest ratio: ${worstRatio.toFixed(2)} — ${worstRatio <= 2 ? "met" : "missed"}).

### Raw rows on disk

Over ${fmt(storage.rows)} rows, all partitions with their indexes (\`pg_total_relation_size\` / rows):

| layout | heap bytes / row | index bytes / row | total bytes / row |
| --- | --- | --- | --- |
| before (cuid \`id\`, unique \`requestId\`, indexes on org + time and key + time) | ${storage.oldHeapPerRow.toFixed(0)} | ${storage.oldIndexPerRow.toFixed(0)} | ${storage.oldBytesPerRow.toFixed(0)} |
| now (uuid \`id\` from the request id, primary key (createdAt, id) only, monthly partitions) | ${storage.heapPerRow.toFixed(0)} | ${storage.indexPerRow.toFixed(0)} | **${storage.bytesPerRow.toFixed(0)}** |

The same layout at each size (the main organisation's records + the ${fmt(OTHERS)} others):

| records | raw rows | on disk | bytes / row |
| --- | --- | --- | --- |
${report.map((r) => `| ${fmt(r.size)} | ${fmt(r.raw.rows)} | ${(r.raw.total / 2 ** 30).toFixed(2)} GiB | ${(r.raw.total / r.raw.rows).toFixed(0)} |`).join("\n")}

Roll-ups at ${fmt(last.size)} (all organisations; "on disk" includes the dead versions the fold's updates and the rebuild leave until a vacuum reuses them):

| table | rows | bytes / row (data) | on disk |
| --- | --- | --- | --- |
${last.rollups.map((t) => `| \`${t.table}\` | ${fmt(t.rows)} | ${t.rowBytes.toFixed(0)} | ${(t.totalBytes / 2 ** 20).toFixed(1)} MiB |`).join("\n")}

### The gateway's batch INSERT

${inserts.batches} batches of ${inserts.batch} records per variant, interleaved, synchronous commit, median per batch: as it is (delta
trigger, no foreign keys) **${ms(inserts.current)} ms** (${((inserts.current * 1000) / inserts.batch).toFixed(1)} µs a record); with foreign keys to
the organisation, key and deployment ${ms(inserts.withForeignKeys)} ms; without the delta trigger ${ms(inserts.withoutTriggers)} ms.`;
}

