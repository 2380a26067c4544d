/**
 * The usage roll-ups are exact: whatever order batches commit in, however late a replayed record
 * arrives, the hourly and daily rows and their totals equal what the raw rows say (counts, tokens,
 * cost, errors by status, guardrail verdicts by outcome code and every histogram bucket), and the rebuild from raw rows gives the same rows as the
 * continuous fold. Everything goes through the gateway's own INSERT (server/gateway/usage-sql.ts)
 * on a real PostgreSQL.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BUCKET_COUNT, LATENCY_BUCKETS_MS, bucketOf, emptyHistogram, exactPercentile, mergeAll, percentile } from "@/lib/histogram";
import { db } from "@/server/db";
import { GUARDRAIL_OUTCOMES, GUARDRAIL_RULE_NAMES, outcomeCode } from "@/server/guardrails/types";
import { INSERT_SQL, insertParams, keySpendSinceSql, orgSpendSinceSql, usageRecordId, type UsageEntry } from "@/server/gateway/usage-sql";
import { ROLLUP_LOCK_KEY, rollUpUsage } from "@/server/services/usage-rollup";
import { createTenant, unique, type Tenant } from "../helpers";

const HOUR = 3_600_000;
/** A UTC time as a `timestamp` literal (pg would send a Date in the process's own time zone). */
const utcText = (t: number) => new Date(t).toISOString().replace("T", " ").replace("Z", "");
const DAY = 24 * HOUR;

let a: Tenant;
let b: Tenant;
let orgs: string[];
/** Per tenant: deployments and keys to spread calls over (null: none, or one that does not exist). */
let targets: { orgId: string; deploymentIds: (string | null)[]; apiKeyIds: (string | null)[] }[];
const clients: pg.Client[] = [];

async function connect() {
  const c = new pg.Client({ connectionString: process.env.DATABASE_URL, options: "-c TimeZone=UTC" });
  await c.connect();
  clients.push(c);
  return c;
}

/** A small deterministic generator (mulberry32), so a failure replays the same data. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let counter = 0;
const runTag = unique("rollup");

/** `n` calls at `at()` (epoch ms), latencies from sub-millisecond to past the overflow bound. */
function calls(n: number, at: () => number, seed: number): UsageEntry[] {
  const r = random(seed);
  return Array.from({ length: n }, () => {
    const t = targets[Math.floor(r() * targets.length)];
    const stream = r() < 0.5;
    const latency = r() < 0.02 ? [0.5, 1020, 661_000, 700_000, 0][Math.floor(r() * 5)] : Math.exp(r() * 13) / 8;
    const ttft = r() < 0.1 ? null : latency * r();
    const status = r() < 0.85 ? 200 : [400, 429, 499, 502, 503][Math.floor(r() * 5)];
    // Zero to four verdicts (a record of a request no check ran on has none).
    const guardrails = Array.from({ length: Math.floor(r() * 5) }, () =>
      outcomeCode(GUARDRAIL_RULE_NAMES[Math.floor(r() * GUARDRAIL_RULE_NAMES.length)], GUARDRAIL_OUTCOMES[Math.floor(r() * GUARDRAIL_OUTCOMES.length)]),
    );
    return {
      requestId: `${runTag}_${(++counter).toString(36)}`,
      orgId: t.orgId,
      apiKeyId: t.apiKeyIds[Math.floor(r() * t.apiKeyIds.length)],
      deploymentId: t.deploymentIds[Math.floor(r() * t.deploymentIds.length)],
      endpoint: "/v1/chat/completions",
      tokensIn: Math.floor(r() * 2000),
      tokensOut: Math.floor(r() * 500),
      latencyMs: Math.round(latency * 1000) / 1000,
      ttftMs: ttft === null ? null : Math.round(ttft * 1000) / 1000,
      status,
      costMicroEur: Math.floor(r() * 5000),
      at: Math.floor(at()),
      stream,
      guardrails,
    };
  });
}

/** Calls of keys that do not exist (no "ApiKey" row locked by the INSERT's lastUsedAt update). */
const withoutKey = (entries: UsageEntry[]) => entries.map((e, i) => ({ ...e, apiKeyId: i % 2 ? null : "no-such-key" }));

async function insert(c: pg.Client | pg.PoolClient | pg.Pool, entries: UsageEntry[]): Promise<number> {
  return (await c.query<{ inserted: number }>(INSERT_SQL, insertParams(entries))).rows[0].inserted;
}

interface Figures {
  requests: number;
  errors: number;
  tokensIn: number;
  tokensOut: number;
  costMicroEur: number;
  latencySumMs: number;
  ttftCount: number;
  ttftSumMs: number;
  generationMs: number;
  tokensOutStreamed: number;
  latencyBuckets: number[];
  ttftBuckets: number[];
  errorsByStatus: Record<string, number>;
  /** Verdicts by outcome code. */
  guardrails: Record<string, number>;
}

const blank = (): Figures => ({
  requests: 0, errors: 0, tokensIn: 0, tokensOut: 0, costMicroEur: 0, latencySumMs: 0, ttftCount: 0, ttftSumMs: 0, generationMs: 0, tokensOutStreamed: 0,
  latencyBuckets: emptyHistogram(), ttftBuckets: emptyHistogram(), errorsByStatus: {}, guardrails: {},
});

/** What the raw rows of our organisations say, per hour and per day, computed here from the rows themselves. */
async function fromRawRows(c: pg.Client) {
  const { rows } = await c.query<{ orgId: string; createdAt: number; deploymentId: string; apiKeyId: string; latency: number; ttft: number | null; status: number; tokensIn: number; tokensOut: number; cost: number; stream: boolean; guardrails: number[] | null }>(
    `SELECT "orgId", (extract(epoch FROM "createdAt") * 1000)::float8 AS "createdAt", coalesce("deploymentId", '') AS "deploymentId", coalesce("apiKeyId", '') AS "apiKeyId", "latencyMs"::float8 AS latency, "ttftMs"::float8 AS ttft,
            status, "tokensIn", "tokensOut", "costMicroEur" AS cost, stream, guardrails
     FROM "UsageRecord" WHERE "orgId" = ANY($1)`,
    [orgs],
  );
  const hours = new Map<string, Figures>();
  const days = new Map<string, Figures>();
  const hourTotals = new Map<string, Figures>();
  const dayTotals = new Map<string, Figures>();
  for (const r of rows) {
    const t = r.createdAt;
    const hour = new Date(Math.floor(t / HOUR) * HOUR).toISOString();
    const day = new Date(Math.floor(t / DAY) * DAY).toISOString().slice(0, 10);
    const targets: [Map<string, Figures>, string][] = [
      [hours, `${r.orgId}|${hour}|${r.deploymentId}|${r.apiKeyId}`],
      [days, `${r.orgId}|${day}|${r.deploymentId}|${r.apiKeyId}`],
    ];
    // The totals: over keys, over deployments, over both.
    for (const [dep, key] of [[r.deploymentId, "*"], ["*", r.apiKeyId], ["*", "*"]]) {
      targets.push([hourTotals, `${r.orgId}|${hour}|${dep}|${key}`], [dayTotals, `${r.orgId}|${day}|${dep}|${key}`]);
    }
    for (const [map, key] of targets) {
      const f = map.get(key) ?? map.set(key, blank()).get(key)!;
      f.requests++;
      f.tokensIn += r.tokensIn;
      f.tokensOut += r.tokensOut;
      f.costMicroEur += r.cost;
      f.latencySumMs += r.latency;
      f.latencyBuckets[bucketOf(r.latency)]++;
      if (r.status >= 400) {
        f.errors++;
        f.errorsByStatus[String(r.status)] = (f.errorsByStatus[String(r.status)] ?? 0) + 1;
      }
      for (const code of r.guardrails ?? []) f.guardrails[String(code)] = (f.guardrails[String(code)] ?? 0) + 1;
      if (r.ttft !== null) {
        f.ttftCount++;
        f.ttftSumMs += r.ttft;
        f.ttftBuckets[bucketOf(r.ttft)]++;
        if (r.stream) {
          f.generationMs += r.latency - r.ttft;
          f.tokensOutStreamed += r.tokensOut;
        }
      }
    }
  }
  return { hours, days, hourTotals, dayTotals, rows: rows.length };
}

async function rollUps(c: pg.Client) {
  const read = async (table: string, time: "hour" | "day") => {
    const { rows } = await c.query(`SELECT *, ${time === "day" ? `to_char(day, 'YYYY-MM-DD')` : `to_char(hour, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`} AS at FROM "${table}" WHERE "orgId" = ANY($1)`, [orgs]);
    const map = new Map<string, Figures>();
    for (const r of rows) {
      map.set(`${r.orgId}|${r.at}|${r.deploymentId}|${r.apiKeyId}`, {
        requests: r.requests, errors: r.errors, tokensIn: Number(r.tokensIn), tokensOut: Number(r.tokensOut), costMicroEur: Number(r.costMicroEur),
        latencySumMs: r.latencySumMs, ttftCount: r.ttftCount, ttftSumMs: r.ttftSumMs, generationMs: r.generationMs, tokensOutStreamed: Number(r.tokensOutStreamed),
        latencyBuckets: r.latencyBuckets, ttftBuckets: r.ttftBuckets, errorsByStatus: r.errorsByStatus, guardrails: r.guardrails,
      });
    }
    return map;
  };
  return {
    hours: await read("UsageHourly", "hour"),
    days: await read("UsageDaily", "day"),
    hourTotals: await read("UsageHourlyTotal", "hour"),
    dayTotals: await read("UsageDailyTotal", "day"),
  };
}

/** Sums and sums of floats are compared to 1e-9 relative (their addition order differs); everything else exactly. */
function expectSame(actual: Map<string, Figures>, expected: Map<string, Figures>) {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [key, e] of expected) {
    const got = actual.get(key)!;
    const { latencySumMs, ttftSumMs, generationMs, ...exact } = e;
    const { latencySumMs: gl, ttftSumMs: gt, generationMs: gg, ...gotExact } = got;
    expect(gotExact, key).toEqual(exact);
    for (const [x, y] of [[gl, latencySumMs], [gt, ttftSumMs], [gg, generationMs]]) expect(Math.abs(x - y)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(y)));
  }
}

async function expectRollUpsExact(c: pg.Client) {
  const raw = await fromRawRows(c);
  const roll = await rollUps(c);
  expectSame(roll.hours, raw.hours);
  expectSame(roll.days, raw.days);
  expectSame(roll.hourTotals, raw.hourTotals);
  expectSame(roll.dayTotals, raw.dayTotals);
  return raw;
}

async function pendingDeltas(c: pg.Client) {
  return Number((await c.query(`SELECT count(*) AS n FROM "UsageDelta" WHERE "orgId" = ANY($1)`, [orgs])).rows[0].n);
}

beforeAll(async () => {
  [a, b] = [await createTenant("rollup-a"), await createTenant("rollup-b")];
  orgs = [a.org.id, b.org.id];
  const more = await db.deployment.create({
    data: { orgId: a.org.id, name: unique("dep"), catalogModelId: a.model.id, regionId: a.region.id, gpuTypeId: a.gpuType.id, gpusPerReplica: 1, dataClassification: "INTERNAL", createdById: a.ownerId },
  });
  const key2 = await db.apiKey.create({ data: { orgId: a.org.id, name: "second key", prefix: unique("enc_rollup"), secretHash: "x", scopes: ["inference"], createdById: a.ownerId } });
  targets = [
    { orgId: a.org.id, deploymentIds: [a.deployment.id, more.id, null], apiKeyIds: [a.apiKey.id, key2.id, null, "no-such-key"] },
    { orgId: b.org.id, deploymentIds: [b.deployment.id], apiKeyIds: [b.apiKey.id] },
  ];
  // createTenant's own record (written by Prisma: the trigger sees every writer) is rolled up too.
  await rollUpUsage();
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.end()));
});

describe("the database's histogram", () => {
  it("has the buckets of lib/histogram.ts, and md5(request id) is the record id usageRecordId gives", async () => {
    const c = await connect();
    const { rows } = await c.query<{ bounds: number[]; id: string; bucket: number[] }>(
      `SELECT usage_histogram_bounds() AS bounds, md5('req_abc_1')::uuid::text AS id,
              ARRAY[width_bucket(0.4999::float8, usage_histogram_bounds()), width_bucket(0.5::float8, usage_histogram_bounds()), width_bucket(661000::float8, usage_histogram_bounds())] AS bucket`,
    );
    expect(rows[0].bounds).toEqual([...LATENCY_BUCKETS_MS]);
    expect(rows[0].id).toBe(usageRecordId("req_abc_1"));
    expect(rows[0].bucket).toEqual([bucketOf(0.4999), bucketOf(0.5), bucketOf(661_000)]);
  });
});

describe("the usage roll-up", () => {
  it("is exact with late records, replays, and batches that commit out of order", async () => {
    const [c1, c2, c3] = [await connect(), await connect(), await connect()];
    const now = Date.now();
    // A transaction that stays open while later ones commit: its rows are older, its delta id smaller.
    // (Without a key: the INSERT's lastUsedAt update would make the others wait for its commit.)
    await c1.query("BEGIN");
    const slow = withoutKey(calls(300, () => now - 3 * HOUR, 1));
    expect(await insert(c1, slow)).toBe(300);
    const fresh = calls(400, () => now - Math.random() * 5 * 60_000, 2);
    expect(await insert(c2, fresh)).toBe(400);
    // A replay of a spool from a gateway that died two days ago: its records land in their own hours.
    const late = calls(500, () => now - DAY * 2 - Math.random() * DAY, 3);
    expect(await insert(c2, late)).toBe(500);

    await rollUpUsage({ client: c3 });
    // The open transaction's rows are invisible to the raw rows and to the roll-up alike.
    await expectRollUpsExact(c3);

    await c1.query("COMMIT");
    expect(await pendingDeltas(c3)).toBeGreaterThan(0);
    await rollUpUsage({ client: c3 });
    const raw = await expectRollUpsExact(c3);
    expect(await pendingDeltas(c3)).toBe(0);
    // The gateway's INSERT carried the verdict codes: the comparison above counted some.
    expect([...raw.hourTotals.values()].reduce((n, f) => n + Object.values(f.guardrails).reduce((x, y) => x + y, 0), 0)).toBeGreaterThan(1000);

    // Replayed again (another process claims the same spool): nothing inserted, nothing to roll up.
    expect(await insert(c2, [...slow, ...late.slice(0, 100)])).toBe(0);
    expect(await pendingDeltas(c3)).toBe(0);
    await rollUpUsage({ client: c3 });
    expect((await expectRollUpsExact(c3)).rows).toBe(raw.rows);
  });

  it("stays exact while writers and roll-ups run at the same time", async () => {
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 6, options: "-c TimeZone=UTC" });
    const folder = await connect();
    const now = Date.now();
    let writing = true;
    let folds = 0;
    try {
      const writers = Array.from({ length: 4 }, async (_, w) => {
        for (let i = 0; i < 12; i++) {
          const held = i % 2 === 0;
          const batch = calls(150, () => now - Math.random() * 36 * HOUR, 100 + w * 50 + i);
          const client = await pool.connect();
          try {
            // Half the batches hold their transaction open a while, so commits interleave with folds.
            await client.query("BEGIN");
            await insert(client, held ? withoutKey(batch) : batch);
            if (held) await new Promise((r) => setTimeout(r, 20 + Math.random() * 60));
            await client.query("COMMIT");
          } finally {
            client.release();
          }
        }
      });
      const rolling = (async () => {
        while (writing) {
          const r = await rollUpUsage({ client: folder, wait: false });
          if (!r.skipped) folds++;
          await new Promise((r) => setTimeout(r, 15));
        }
      })();
      await Promise.all(writers);
      writing = false;
      await rolling;
    } finally {
      await pool.end();
    }
    expect(folds).toBeGreaterThan(1);
    await rollUpUsage({ client: folder });
    await expectRollUpsExact(folder);
  });

  it("gives the same rows when rebuilt from the raw rows, and folds what arrived meanwhile", async () => {
    const c = await connect();
    const before = await rollUps(c);
    // A delta not yet folded when the rebuild starts: the rebuild counts its row once.
    await insert(c, calls(50, () => Date.now() - 30 * 60_000, 7));
    const result = await rollUpUsage({ client: c, rebuild: true });
    expect(result.days).toBeGreaterThanOrEqual(3);
    const raw = await expectRollUpsExact(c);
    expect(await pendingDeltas(c)).toBe(0);
    expect(raw.rows).toBeGreaterThan([...before.hours.values()].reduce((n, f) => n + f.requests, 0));
  });

  it("follows deletes and updates made through the table; an hour left empty disappears", async () => {
    const c = await connect();
    const at = Date.UTC(2026, 5, 15, 9, 30);
    const mine = calls(40, () => at, 9).map((e) => ({ ...e, orgId: a.org.id, apiKeyId: a.apiKey.id, deploymentId: a.deployment.id }));
    await insert(c, mine);
    await rollUpUsage({ client: c });
    await expectRollUpsExact(c);
    const ids = mine.slice(0, 10).map((e) => usageRecordId(e.requestId));
    // An answer blocked after the fact: its verdicts change with it.
    const blocked = outcomeCode("pii.output", "blocked");
    await c.query(`UPDATE "UsageRecord" SET status = 503, "tokensOut" = 0, guardrails = ARRAY[$2::smallint, $2::smallint] WHERE id = ANY($1::uuid[])`, [ids, blocked]);
    await c.query(`DELETE FROM "UsageRecord" WHERE id = ANY($1::uuid[])`, [mine.slice(10, 20).map((e) => usageRecordId(e.requestId))]);
    await rollUpUsage({ client: c });
    const raw = await expectRollUpsExact(c);
    expect(raw.hours.get(`${a.org.id}|${new Date(Date.UTC(2026, 5, 15, 9)).toISOString()}|${a.deployment.id}|${a.apiKey.id}`)?.guardrails[String(blocked)]).toBeGreaterThanOrEqual(20);
    await c.query(`DELETE FROM "UsageRecord" WHERE "orgId" = $1 AND "createdAt" = $2`, [a.org.id, utcText(at)]);
    await rollUpUsage({ client: c });
    await expectRollUpsExact(c);
    for (const table of ["UsageHourly", "UsageHourlyTotal"]) {
      const left = await c.query(`SELECT 1 FROM "${table}" WHERE "orgId" = $1 AND hour = $2`, [a.org.id, utcText(Date.UTC(2026, 5, 15, 9))]);
      expect(left.rows).toEqual([]);
    }
  });

  it("counts a key's and an organisation's spend exactly before and after the fold (the budgets' starting point)", async () => {
    const c = await connect();
    const monthStart = utcText(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1));
    const spend = async () => {
      const key = await c.query(keySpendSinceSql("$1", "$2::timestamp"), [a.apiKey.id, monthStart]);
      const org = await c.query(orgSpendSinceSql("$1", "$2::timestamp"), [a.org.id, monthStart]);
      const raw = await c.query(
        `SELECT coalesce(sum("costMicroEur") FILTER (WHERE "apiKeyId" = $2), 0)::bigint AS key, coalesce(sum("costMicroEur"), 0)::bigint AS org
         FROM "UsageRecord" WHERE "orgId" = $1 AND "createdAt" >= $3`,
        [a.org.id, a.apiKey.id, monthStart],
      );
      return { key: key.rows[0].spent, org: org.rows[0].spent, rawKey: raw.rows[0].key, rawOrg: raw.rows[0].org };
    };
    await insert(c, calls(200, () => Date.now() - Math.random() * 60_000, 11));
    const pending = await spend();
    expect(pending.key).toBe(pending.rawKey);
    expect(pending.org).toBe(pending.rawOrg);
    await rollUpUsage({ client: c });
    const folded = await spend();
    expect(folded).toEqual(pending);
    expect(await pendingDeltas(c)).toBe(0);
  });

  it("reads percentiles from merged hourly histograms within one bucket of the exact percentile over the raw rows", async () => {
    const c = await connect();
    await rollUpUsage({ client: c });
    const raw = (await c.query<{ latency: number; ttft: number | null }>(`SELECT "latencyMs"::float8 AS latency, "ttftMs"::float8 AS ttft FROM "UsageRecord" WHERE "orgId" = $1`, [a.org.id])).rows;
    const hourly = (await c.query<{ latencyBuckets: number[]; ttftBuckets: number[] }>(`SELECT "latencyBuckets", "ttftBuckets" FROM "UsageHourly" WHERE "orgId" = $1`, [a.org.id])).rows;
    expect(hourly.length).toBeGreaterThan(24);
    const latency = mergeAll(hourly.map((h) => h.latencyBuckets));
    const ttft = mergeAll(hourly.map((h) => h.ttftBuckets));
    expect(latency).toHaveLength(BUCKET_COUNT);
    for (const q of [0.5, 0.9, 0.95, 0.99, 0.999]) {
      const l = percentile(latency, q)!;
      expect(Math.abs(bucketOf(l) - bucketOf(exactPercentile(raw.map((r) => r.latency), q)!)), `latency p${q * 100}`).toBeLessThanOrEqual(1);
      const t = percentile(ttft, q)!;
      const exactTtft = exactPercentile(raw.flatMap((r) => (r.ttft === null ? [] : [r.ttft])), q)!;
      expect(Math.abs(bucketOf(t) - bucketOf(exactTtft)), `ttft p${q * 100}`).toBeLessThanOrEqual(1);
    }
  });

  it("is kept up by the workers' loop: a new record reaches the roll-ups without anyone asking", async () => {
    process.env.ENCLAVE_USAGE_ROLLUP_MS = "100";
    const { registerUsageRollup } = await import("@/workers/jobs/roll-up-usage");
    const stop = await registerUsageRollup(process.env.DATABASE_URL!);
    try {
      const c = await connect();
      const [one] = calls(1, () => Date.now(), 21).map((e) => ({ ...e, orgId: b.org.id, apiKeyId: b.apiKey.id, deploymentId: b.deployment.id }));
      await insert(c, [one]);
      const hour = utcText(Math.floor(one.at / HOUR) * HOUR);
      const seen = async () =>
        (await c.query(`SELECT requests FROM "UsageHourlyTotal" WHERE "orgId" = $1 AND hour = $2 AND "deploymentId" = '*' AND "apiKeyId" = '*'`, [b.org.id, hour])).rows[0]?.requests ?? 0;
      const deadline = Date.now() + 30_000;
      while ((await pendingDeltas(c)) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(await pendingDeltas(c)).toBe(0);
      expect(await seen()).toBeGreaterThanOrEqual(1);
      await expectRollUpsExact(c);
    } finally {
      await stop();
      delete process.env.ENCLAVE_USAGE_ROLLUP_MS;
    }
  });

  it("runs one at a time: a tick finds the lock taken and skips, the command waits for its turn", async () => {
    const holder = await connect();
    const other = await connect();
    await holder.query("SELECT pg_advisory_lock($1)", [ROLLUP_LOCK_KEY]);
    try {
      expect((await rollUpUsage({ client: other, wait: false })).skipped).toBe(true);
      let finished = false;
      const waiting = rollUpUsage({ client: other }).then((r) => {
        finished = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(finished).toBe(false);
      await holder.query("SELECT pg_advisory_unlock($1)", [ROLLUP_LOCK_KEY]);
      expect((await waiting).skipped).toBe(false);
    } finally {
      await holder.query("SELECT pg_advisory_unlock_all()");
    }
  });
});
