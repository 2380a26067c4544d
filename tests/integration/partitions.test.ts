/**
 * Monthly partitions of "UsageRecord" and "Trace" (server/db/partitions.ts) and their upkeep
 * (workers/jobs/maintain-partitions.ts): months are created ahead, a month whose rows already sit in
 * the DEFAULT partition is split out with its rows, expired months are dropped while their usage
 * roll-ups stay, and inserts never fail meanwhile. Uses months of 2021–2023, which no other test
 * writes to.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropExpiredPartitions, ensureMonthlyPartitions, listPartitions, partitionName, TRACES, USAGE_RECORDS } from "@/server/db/partitions";
import { INSERT_SQL, insertParams, usageRecordId, type UsageEntry } from "@/server/gateway/usage-sql";
import { rollUpUsage } from "@/server/services/usage-rollup";
import { maintainPartitions } from "@/workers/jobs/maintain-partitions";
import { createTenant, unique, type Tenant } from "../helpers";

let tenant: Tenant;
let client: pg.Client;
let pool: pg.Pool;

const tag = unique("part");
let n = 0;
function entries(count: number, at: () => number): UsageEntry[] {
  return Array.from({ length: count }, () => ({
    requestId: `${tag}_${++n}`,
    orgId: tenant.org.id,
    apiKeyId: tenant.apiKey.id,
    deploymentId: tenant.deployment.id,
    endpoint: "/v1/chat/completions",
    tokensIn: 2,
    tokensOut: 3,
    latencyMs: 12.5,
    ttftMs: 4,
    status: 200,
    costMicroEur: 10,
    at: at(),
    stream: true,
  }));
}

const insert = async (q: pg.Client | pg.Pool, e: UsageEntry[]) => (await q.query<{ inserted: number }>(INSERT_SQL, insertParams(e))).rows[0].inserted;

/** Where each record is: partition name → count. */
async function placement(ids: string[]) {
  const { rows } = await client.query<{ part: string; n: number }>(`SELECT tableoid::regclass::text AS part, count(*)::int AS n FROM "UsageRecord" WHERE id = ANY($1::uuid[]) GROUP BY 1`, [ids]);
  return Object.fromEntries(rows.map((r) => [r.part.replaceAll('"', ""), r.n]));
}

const utc = (y: number, m: number, d = 1, h = 0) => Date.UTC(y, m - 1, d, h);
const ids = (e: UsageEntry[]) => e.map((x) => usageRecordId(x.requestId));

beforeAll(async () => {
  tenant = await createTenant("partitions");
  client = new pg.Client({ connectionString: process.env.DATABASE_URL, options: "-c TimeZone=UTC" });
  await client.connect();
  pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4, options: "-c TimeZone=UTC" });
});

afterAll(async () => {
  await client.end();
  await pool.end();
});

describe("monthly partitions", () => {
  it("are created for every month of a range, once", async () => {
    const created = await ensureMonthlyPartitions(client, USAGE_RECORDS, new Date(utc(2021, 11, 15)), new Date(utc(2022, 2, 3)));
    expect(created).toEqual(["UsageRecord_2021_11", "UsageRecord_2021_12", "UsageRecord_2022_01", "UsageRecord_2022_02"]);
    expect(await ensureMonthlyPartitions(client, USAGE_RECORDS, new Date(utc(2021, 11)), new Date(utc(2022, 2)))).toEqual([]);
    const names = (await listPartitions(client, USAGE_RECORDS)).map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(created));
    // Rows go to their month.
    const e = entries(5, () => utc(2022, 1, 20, 13));
    expect(await insert(client, e)).toBe(5);
    expect(await placement(ids(e))).toEqual({ UsageRecord_2022_01: 5 });
  });

  it("split a month out of the default partition with its rows, without counting them twice in the roll-ups", async () => {
    const e = entries(40, () => utc(2022, 6, 10, 8) + Math.floor(Math.random() * 3_600_000));
    expect(await insert(client, e)).toBe(40);
    expect(await placement(ids(e))).toEqual({ UsageRecord_default: 40 });
    await rollUpUsage({ client });
    const hourly = async () =>
      (await client.query(`SELECT requests FROM "UsageHourly" WHERE "orgId" = $1 AND hour = $2`, [tenant.org.id, "2022-06-10 08:00:00"])).rows;
    expect(await hourly()).toEqual([{ requests: 40 }]);

    expect(await ensureMonthlyPartitions(client, USAGE_RECORDS, new Date(utc(2022, 6)), new Date(utc(2022, 6)))).toEqual(["UsageRecord_2022_06"]);
    expect(await placement(ids(e))).toEqual({ UsageRecord_2022_06: 40 });
    // Moving rows between partitions is not a change of the table: no delta, the same roll-ups.
    expect((await client.query(`SELECT count(*)::int AS n FROM "UsageDelta" WHERE "orgId" = $1`, [tenant.org.id])).rows[0].n).toBe(0);
    await rollUpUsage({ client });
    expect(await hourly()).toEqual([{ requests: 40 }]);
    // A replay after the split still finds its record (same key, now in the month's partition).
    expect(await insert(client, e.slice(0, 10))).toBe(0);
  });

  it("take inserts all the time, also while their month is being split out of the default partition", async () => {
    const at = () => utc(2022, 9, 1) + Math.floor(Math.random() * 20 * 86_400_000);
    const sent: UsageEntry[] = [];
    const failures: unknown[] = [];
    let stop = false;
    const writers = Array.from({ length: 3 }, async () => {
      while (!stop) {
        const batch = entries(20, at);
        try {
          expect(await insert(pool, batch)).toBe(20);
          sent.push(...batch);
        } catch (error) {
          failures.push(error);
        }
      }
    });
    let created: string[];
    try {
      while (sent.length < 200 && failures.length === 0) await new Promise((r) => setTimeout(r, 10));
      created = await ensureMonthlyPartitions(client, USAGE_RECORDS, new Date(utc(2022, 9)), new Date(utc(2022, 10)));
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      stop = true;
      await Promise.all(writers);
    }
    expect(failures).toEqual([]);
    expect(created).toEqual(["UsageRecord_2022_09", "UsageRecord_2022_10"]);
    expect(await placement(ids(sent))).toEqual({ UsageRecord_2022_09: sent.length });
  });

  it("expire: whole months are dropped, old strays leave the default partition, the roll-ups stay", async () => {
    await ensureMonthlyPartitions(client, USAGE_RECORDS, new Date(utc(2021, 3)), new Date(utc(2021, 4)));
    const april = entries(10, () => utc(2021, 4, 5, 10));
    const stray = entries(3, () => utc(2020, 12, 24, 18));
    const kept = entries(4, () => utc(2021, 5, 2, 9));
    await insert(client, [...april, ...stray, ...kept]);
    expect(await placement(ids(stray))).toEqual({ UsageRecord_default: 3 });
    await rollUpUsage({ client });

    const dropped = await dropExpiredPartitions(client, USAGE_RECORDS, new Date(utc(2021, 5, 1, 12)));
    expect(dropped).toEqual(expect.arrayContaining(["UsageRecord_2021_03", "UsageRecord_2021_04"]));
    expect(dropped).not.toContain("UsageRecord_2021_05");
    expect(await placement(ids([...april, ...stray]))).toEqual({});
    expect(await placement(ids(kept))).toEqual({ UsageRecord_default: 4 });
    // Retention is not a deletion of usage: the hourly figures of the dropped months are still there.
    await rollUpUsage({ client });
    const { rows } = await client.query(`SELECT to_char(hour, 'YYYY-MM-DD HH24') AS hour, requests FROM "UsageHourly" WHERE "orgId" = $1 AND hour < '2021-06-01' ORDER BY 1`, [tenant.org.id]);
    expect(rows).toEqual([
      { hour: "2020-12-24 18", requests: 3 },
      { hour: "2021-04-05 10", requests: 10 },
      { hour: "2021-05-02 09", requests: 4 },
    ]);
  });
});

describe("partition upkeep (the workers' daily job)", () => {
  it("keeps both tables partitioned from the oldest retained month to two months ahead, and drops what expired", async () => {
    const now = new Date(utc(2023, 3, 10));
    await ensureMonthlyPartitions(client, TRACES, new Date(utc(2022, 1)), new Date(utc(2022, 1)));
    const result = await maintainPartitions(client, now, { usageDays: 400, traceDays: 180 });
    const usage = (await listPartitions(client, USAGE_RECORDS)).map((p) => p.name);
    const traces = (await listPartitions(client, TRACES)).map((p) => p.name);
    // 400 days before 2023-03-10 is 2022-02-03: February 2022 is the oldest usage month kept.
    for (let m = new Date(utc(2022, 2)); m <= new Date(utc(2023, 5)); m = new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1))) {
      expect(usage).toContain(partitionName("UsageRecord", m));
    }
    expect(usage).not.toContain("UsageRecord_2022_01");
    expect(result.dropped).toEqual(expect.arrayContaining(["UsageRecord_2021_11", "UsageRecord_2021_12", "UsageRecord_2022_01", "Trace_2022_01"]));
    // 180 days before: 2022-09-11, so traces from September 2022 on.
    expect(traces).toEqual(expect.arrayContaining(["Trace_2022_09", "Trace_2023_03", "Trace_2023_05"]));
    expect(traces).not.toContain("Trace_2022_08");
    expect(await maintainPartitions(client, now, { usageDays: 400, traceDays: 180 })).toEqual({ created: [], dropped: [] });
  });
});
