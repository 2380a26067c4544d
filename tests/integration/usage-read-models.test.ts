/**
 * The usage dashboards' read models (server/services/usage.ts) against a real PostgreSQL: raw
 * UsageRecord rows are inserted, the real roll-up folds them (server/services/usage-rollup.ts),
 * and every figure the dashboards show — totals, the zero-filled series over the whole period,
 * errors by status, latency and TTFT percentiles, output tokens/s, the breakdowns by deployment,
 * key and region, the overview, the API keys' spend and the admin views — is checked against what
 * the raw rows say, computed here from the rows themselves. Cross-tenant refusals are the
 * isolation suites' (tests/isolation-cases.ts).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bucketOf, BUCKET_COUNT, exactPercentile, LATENCY_BUCKETS_MS } from "@/lib/histogram";
import { db } from "@/server/db";
import { listApiKeys, startOfMonthUtc } from "@/server/services/api-keys";
import { listOrganizationsForAdmins, organizationOverview } from "@/server/services/organizations";
import { capacityHistory, organizationsUsage, slowestDeployments, usageBreakdown, usageLatency, usageSummary, type UsagePeriod } from "@/server/services/usage";
import { rollUpUsage } from "@/server/services/usage-rollup";
import { sampleCapacityOnce } from "@/workers/jobs/sample-capacity";
import { callerFor, createTenant, createUser, gpuRegionFixture, outcome, unique, type Tenant } from "../helpers";
import { call, issueKey, startRestServer, type RestServer } from "../rest-fixtures";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const SPEC: Record<UsagePeriod, { step: number; points: number }> = {
  "24h": { step: HOUR, points: 24 },
  "7d": { step: HOUR, points: 168 },
  "30d": { step: DAY, points: 30 },
  "90d": { step: DAY, points: 90 },
};
const PERIODS = Object.keys(SPEC) as UsagePeriod[];

/** The window of a period, computed here independently of the service: whole buckets, ending with now's. */
const windowOf = (period: UsagePeriod, now: number) => {
  const { step, points } = SPEC[period];
  const last = Math.floor(now / step) * step;
  return { step, from: last - (points - 1) * step, last };
};

interface Raw {
  createdAt: Date;
  apiKeyId: string | null;
  deploymentId: string | null;
  tokensIn: number;
  tokensOut: number;
  latencyMs: number;
  ttftMs: number | null;
  status: number;
  stream: boolean;
  costMicroEur: number;
}

const now = Date.now();
const H = Math.floor(now / HOUR) * HOUR;

let a: Tenant;
let b: Tenant;
let depB: { id: string; name: string };
let depGone: { id: string; name: string };
let keyRevoked: { id: string; name: string };
let regionB: { id: string; code: string; name: string };
let raw: Raw[];
let gpu: { deploymentId: string; regionId: string; periodStart: Date; costMicroEur: bigint }[];

function record(over: Partial<Raw> & { createdAt: Date }): Raw {
  return { apiKeyId: a.apiKey.id, deploymentId: a.deployment.id, tokensIn: 10, tokensOut: 20, latencyMs: 20, ttftMs: null, status: 200, stream: false, costMicroEur: 100, ...over };
}
const times = <T>(n: number, make: (i: number) => T) => Array.from({ length: n }, (_, i) => make(i));

beforeAll(async () => {
  a = await createTenant("usage-a");
  b = await createTenant("usage-b");
  const second = await gpuRegionFixture();
  regionB = second.region;
  await db.quota.create({ data: { orgId: a.org.id, regionId: regionB.id, gpuTypeId: second.gpuType.id, limitGpus: 4 } });
  const deployment = (name: string, regionId: string, gpuTypeId: string) =>
    db.deployment.create({ data: { orgId: a.org.id, name, catalogModelId: a.model.id, regionId, gpuTypeId, gpusPerReplica: 1, dataClassification: "INTERNAL", createdById: a.ownerId } });
  depB = await deployment(unique("dep-b"), regionB.id, second.gpuType.id);
  const gone = await deployment(unique("gone"), a.region.id, a.gpuType.id);
  // Deleted as the reconciler does: renamed out of the way, kept for history.
  depGone = await db.deployment.update({ where: { id: gone.id }, data: { name: `${gone.name}~deleted-${gone.id}`, deletedAt: new Date(), phase: "DELETED", desiredState: "DELETED" } });
  keyRevoked = await db.apiKey.create({ data: { orgId: a.org.id, name: "old key", prefix: unique("enc_old"), secretHash: "x", scopes: ["inference"], createdById: a.ownerId, revokedAt: new Date() } });

  const at = (ms: number) => new Date(ms);
  const rows: Raw[] = [
    // The current hour (its start is never after now).
    ...times(3, () => record({ createdAt: at(H), latencyMs: 12 })),
    // Two hours ago, 90 fast answers; five hours ago, 10 slow ones: the hourly p95s are 10 and 1000 ms, the real p95 is 1000.
    ...times(90, (i) => record({ createdAt: at(H - 2 * HOUR + i * 1000), latencyMs: 10 })),
    ...times(10, (i) => record({ createdAt: at(H - 5 * HOUR + i * 1000), latencyMs: 1000, tokensOut: 200, costMicroEur: 900 })),
    // Errors three hours ago: refused before routing (no deployment), by the upstream (another key, another region), client gone.
    ...times(5, () => record({ createdAt: at(H - 3 * HOUR), deploymentId: null, status: 429, latencyMs: 1, tokensIn: 0, tokensOut: 0, costMicroEur: 0 })),
    ...times(2, () => record({ createdAt: at(H - 3 * HOUR + 60_000), deploymentId: depB.id, apiKeyId: keyRevoked.id, status: 502, latencyMs: 30, costMicroEur: 0 })),
    record({ createdAt: at(H - 3 * HOUR + 120_000), apiKeyId: null, status: 499, latencyMs: 60 }),
    // Streamed answers four hours ago: 100 tokens in 200 ms of generation each (500 tokens/s).
    ...times(6, (i) => record({ createdAt: at(H - 4 * HOUR + i), deploymentId: depB.id, stream: true, ttftMs: 40 + i * 10, latencyMs: 240 + i * 10, tokensOut: 100, costMicroEur: 300 })),
    // Outside 24 h, inside 7 d: the deleted deployment.
    ...times(3, () => record({ createdAt: at(H - 2 * DAY), deploymentId: depGone.id, latencyMs: 80, costMicroEur: 5_000 })),
    // Outside 7 d, inside 30 d; outside 30 d, inside 90 d; outside everything.
    ...times(4, () => record({ createdAt: at(now - 10 * DAY), deploymentId: depB.id, latencyMs: 300, costMicroEur: 7_000 })),
    ...times(2, () => record({ createdAt: at(now - 40 * DAY), latencyMs: 150, costMicroEur: 11_000 })),
    record({ createdAt: at(now - 100 * DAY), costMicroEur: 1_000_000 }),
  ];
  await db.usageRecord.createMany({ data: rows.map((r) => ({ ...r, orgId: a.org.id, endpoint: "/v1/chat/completions" })) });
  // B's traffic, in the same hours: none of it may show in A's figures.
  await db.usageRecord.createMany({
    data: times(20, () => ({ ...record({ createdAt: at(H - 2 * HOUR), latencyMs: 5000, costMicroEur: 50_000 }), apiKeyId: b.apiKey.id, deploymentId: b.deployment.id, orgId: b.org.id, endpoint: "/v1/chat/completions" })),
  });
  gpu = [
    { deploymentId: a.deployment.id, regionId: a.region.id, periodStart: at(H - HOUR + 300_000), costMicroEur: 1_500_000n },
    { deploymentId: depB.id, regionId: regionB.id, periodStart: at(now - 10 * DAY), costMicroEur: 700_000n },
    { deploymentId: depGone.id, regionId: a.region.id, periodStart: at(H - 2 * DAY), costMicroEur: 300_000n },
  ];
  await db.gpuUsage.createMany({
    data: [
      ...gpu.map((g) => ({ ...g, orgId: a.org.id, gpuTypeId: a.gpuType.id, gpuCount: 1, periodEnd: new Date(g.periodStart.getTime() + 60_000), gpuSeconds: 60 })),
      { orgId: b.org.id, deploymentId: b.deployment.id, regionId: b.region.id, gpuTypeId: b.gpuType.id, gpuCount: 1, periodStart: at(H - HOUR), periodEnd: at(H - HOUR + 60_000), gpuSeconds: 60, costMicroEur: 9_000_000n },
    ],
  });
  await rollUpUsage();
  // What the raw rows of A say (createTenant's own request included), read back as stored.
  raw = (await db.usageRecord.findMany({ where: { orgId: a.org.id } })).map((r) => ({ ...r }));
});

// ─── Expected figures, from the raw rows ─────────────────────────────────────

const within = (t: Date, period: UsagePeriod) => {
  const w = windowOf(period, now);
  return t.getTime() >= w.from && t.getTime() < w.last + w.step;
};
const inWindow = (period: UsagePeriod) => raw.filter((r) => within(r.createdAt, period));
const gpuInWindow = (period: UsagePeriod) => gpu.filter((g) => within(g.periodStart, period));
const sum = <T>(rows: T[], f: (r: T) => number) => rows.reduce((s, r) => s + f(r), 0);
const exact = (values: number[], q: number) => exactPercentile(values, q);
/** Within one bucket of the exact percentile: what the roll-ups promise. */
function expectWithinBucket(actual: number | null, exactValue: number | null) {
  if (exactValue === null) return expect(actual).toBeNull();
  expect(actual).not.toBeNull();
  expect(Math.abs(bucketOf(actual!) - bucketOf(exactValue)), `${actual} vs exact ${exactValue}`).toBeLessThanOrEqual(1);
}

describe("usage summary", () => {
  for (const period of PERIODS) {
    it(`${period}: one point per bucket over the whole period, zero-filled, ending with the current bucket`, async () => {
      const s = await usageSummary({ orgId: a.org.id, period, now: new Date(now) });
      const w = windowOf(period, now);
      expect(s.bucket).toBe(w.step === HOUR ? "hour" : "day");
      expect(s.series).toHaveLength(SPEC[period].points);
      expect(s.from.getTime()).toBe(w.from);
      expect(s.to.getTime()).toBe(now);
      expect(s.series.map((p) => p.t.getTime())).toEqual(times(SPEC[period].points, (i) => w.from + i * w.step));
      // Each point is what the raw rows of its bucket say; empty buckets are zeros with no percentiles.
      const rows = inWindow(period);
      for (const p of s.series) {
        const inBucket = rows.filter((r) => Math.floor(r.createdAt.getTime() / w.step) * w.step === p.t.getTime());
        const gpuCost = sum(gpuInWindow(period).filter((g) => Math.floor(g.periodStart.getTime() / w.step) * w.step === p.t.getTime()), (g) => Number(g.costMicroEur));
        expect(p).toMatchObject({
          requests: inBucket.length,
          errors: inBucket.filter((r) => r.status >= 400).length,
          tokensIn: sum(inBucket, (r) => r.tokensIn),
          tokensOut: sum(inBucket, (r) => r.tokensOut),
          costMicroEur: sum(inBucket, (r) => r.costMicroEur) + gpuCost,
        });
        if (inBucket.length === 0) expect(p.latencyMs).toEqual({ p50: null, p95: null, p99: null });
        else expectWithinBucket(p.latencyMs.p95, exact(inBucket.map((r) => r.latencyMs), 0.95));
      }
      expect(s.series.filter((p) => p.requests === 0).length).toBeGreaterThan(0);
    });

    it(`${period}: totals, errors by status and cost (tokens + GPU time) equal the raw rows`, async () => {
      const s = await usageSummary({ orgId: a.org.id, period, now: new Date(now) });
      const rows = inWindow(period);
      const tokenCost = sum(rows, (r) => r.costMicroEur);
      const gpuCost = sum(gpuInWindow(period), (g) => Number(g.costMicroEur));
      expect(s.totals).toMatchObject({
        requests: rows.length,
        errors: rows.filter((r) => r.status >= 400).length,
        tokensIn: sum(rows, (r) => r.tokensIn),
        tokensOut: sum(rows, (r) => r.tokensOut),
        tokenCostMicroEur: tokenCost,
        gpuCostMicroEur: gpuCost,
        costMicroEur: tokenCost + gpuCost,
      });
      const statuses = new Map<number, number>();
      for (const r of rows) if (r.status >= 400) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      expect(s.errorsByStatus).toEqual([...statuses].map(([status, count]) => ({ status, count })).sort((x, y) => y.count - x.count || x.status - y.status));
      const latencies = rows.map((r) => r.latencyMs);
      for (const q of [0.5, 0.95, 0.99] as const) expectWithinBucket(s.totals.latencyMs[`p${q * 100}` as "p50"], exact(latencies, q));
      const ttfts = rows.flatMap((r) => (r.ttftMs === null ? [] : [r.ttftMs]));
      expectWithinBucket(s.totals.ttftMs.p50, exact(ttfts, 0.5));
      expectWithinBucket(s.totals.ttftMs.p95, exact(ttfts, 0.95));
      const streamed = rows.filter((r) => r.stream && r.ttftMs !== null);
      expect(s.totals.outputTokensPerSecond).toBeCloseTo(sum(streamed, (r) => r.tokensOut) / (sum(streamed, (r) => r.latencyMs - r.ttftMs!) / 1000), 1);
    });
  }

  it("merges histograms for percentiles: the average of the hourly p95s would be wrong", async () => {
    const s = await usageSummary({ orgId: a.org.id, period: "24h", now: new Date(now) });
    const exactP95 = exact(inWindow("24h").map((r) => r.latencyMs), 0.95)!;
    expect(exactP95).toBe(1000);
    expect(bucketOf(s.totals.latencyMs.p95!)).toBe(bucketOf(exactP95));
    const hourly = s.series.flatMap((p) => (p.latencyMs.p95 === null ? [] : [p.latencyMs.p95]));
    const averaged = hourly.reduce((x, y) => x + y, 0) / hourly.length;
    expect(Math.abs(bucketOf(averaged) - bucketOf(exactP95))).toBeGreaterThan(1);
    // The same over days: the 30-day figure merges daily histograms.
    const monthly = await usageSummary({ orgId: a.org.id, period: "30d", now: new Date(now) });
    expectWithinBucket(monthly.totals.latencyMs.p99, exact(inWindow("30d").map((r) => r.latencyMs), 0.99));
  });

  it("for one deployment: only its requests and its GPU time", async () => {
    const s = await usageSummary({ orgId: a.org.id, period: "30d", deploymentId: depB.id, now: new Date(now) });
    const rows = inWindow("30d").filter((r) => r.deploymentId === depB.id);
    expect(s.totals).toMatchObject({ requests: rows.length, errors: 2, tokenCostMicroEur: sum(rows, (r) => r.costMicroEur), gpuCostMicroEur: 700_000 });
    expect(s.errorsByStatus).toEqual([{ status: 502, count: 2 }]);
    // A deleted deployment's history stays readable; another organisation's deployment is not found.
    expect((await usageSummary({ orgId: a.org.id, period: "7d", deploymentId: depGone.id, now: new Date(now) })).totals.requests).toBe(3);
    expect(await outcome(() => callerFor(a.ownerId).usage.summary({ orgId: a.org.id, period: "7d", deploymentId: b.deployment.id }))).toBe("NOT_FOUND");
  });

  it("an organisation with no traffic gets the whole axis of zeros, with null percentiles", async () => {
    const idle = await createTenant("usage-idle");
    await db.usageRecord.deleteMany({ where: { orgId: idle.org.id } });
    await rollUpUsage();
    const s = await callerFor(idle.ownerId).usage.summary({ orgId: idle.org.id, period: "7d" });
    expect(s.series).toHaveLength(168);
    expect(s.series.every((p) => p.requests === 0 && p.costMicroEur === 0 && p.latencyMs.p50 === null)).toBe(true);
    expect(s.totals).toMatchObject({ requests: 0, costMicroEur: 0, latencyMs: { p50: null, p95: null, p99: null }, ttftMs: { p50: null, p95: null }, outputTokensPerSecond: null });
    expect(s.errorsByStatus).toEqual([]);
  });
});

describe("latency distributions", () => {
  it("are the merged histograms, in fixed buckets, with the overflow last", async () => {
    const l = await usageLatency({ orgId: a.org.id, period: "7d", now: new Date(now) });
    const rows = inWindow("7d");
    expect(l.latency.buckets).toHaveLength(BUCKET_COUNT);
    expect(l.latency.buckets.map((x) => x.leMs)).toEqual([...LATENCY_BUCKETS_MS, null]);
    // Every request counted once, in the bucket of its latency.
    const expected = new Array<number>(BUCKET_COUNT).fill(0);
    for (const r of rows) expected[bucketOf(r.latencyMs)]++;
    expect(l.latency.buckets.map((x) => x.count)).toEqual(expected);
    expectWithinBucket(l.latency.p99, exact(rows.map((r) => r.latencyMs), 0.99));
    const ttfts = rows.flatMap((r) => (r.ttftMs === null ? [] : [r.ttftMs]));
    expect(sum(l.ttft.buckets, (x) => x.count)).toBe(ttfts.length);
    expectWithinBucket(l.ttft.p95, exact(ttfts, 0.95));
  });
});

describe("breakdowns", () => {
  const groupBy = (rows: Raw[], key: (r: Raw) => string) => {
    const m = new Map<string, Raw[]>();
    for (const r of rows) m.set(key(r), [...(m.get(key(r)) ?? []), r]);
    return m;
  };

  it("by deployment: every deployment with traffic or GPU time, a deleted one named as such, none as 'No deployment'", async () => {
    const { rows } = await usageBreakdown({ orgId: a.org.id, period: "7d", by: "deployment", now: new Date(now) });
    const expected = groupBy(inWindow("7d"), (r) => r.deploymentId ?? "");
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(expected.keys()));
    for (const row of rows) {
      const own = expected.get(row.id)!;
      const gpuCost = sum(gpuInWindow("7d").filter((g) => g.deploymentId === row.id), (g) => Number(g.costMicroEur));
      expect(row).toMatchObject({ requests: own.length, errors: own.filter((r) => r.status >= 400).length, tokensIn: sum(own, (r) => r.tokensIn), tokensOut: sum(own, (r) => r.tokensOut), costMicroEur: sum(own, (r) => r.costMicroEur) + gpuCost });
      expectWithinBucket(row.latencyMs.p95, exact(own.map((r) => r.latencyMs), 0.95));
    }
    const name = (id: string) => rows.find((r) => r.id === id)!.name;
    expect(name(depGone.id)).toBe(`${depGone.name.replace(/~deleted-.*$/, "")} (deleted)`);
    expect(name("")).toBe("No deployment");
    expect(name(a.deployment.id)).toBe(a.deployment.name);
    expect(rows.map((r) => r.costMicroEur)).toEqual([...rows.map((r) => r.costMicroEur)].sort((x, y) => y - x));
  });

  it("by key: token cost per key, a revoked key named as such, none as 'No key'", async () => {
    const { rows } = await usageBreakdown({ orgId: a.org.id, period: "30d", by: "key", now: new Date(now) });
    const expected = groupBy(inWindow("30d"), (r) => r.apiKeyId ?? "");
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(expected.keys()));
    for (const row of rows) expect(row).toMatchObject({ requests: expected.get(row.id)!.length, costMicroEur: sum(expected.get(row.id)!, (r) => r.costMicroEur) });
    expect(rows.find((r) => r.id === keyRevoked.id)!.name).toBe("old key (revoked)");
    expect(rows.find((r) => r.id === "")!.name).toBe("No key");
  });

  it("by key within one deployment: only that deployment's requests, split by key (the detailed roll-ups, not the totals)", async () => {
    const { rows } = await usageBreakdown({ orgId: a.org.id, period: "30d", by: "key", deploymentId: depB.id, now: new Date(now) });
    const expected = groupBy(
      inWindow("30d").filter((r) => r.deploymentId === depB.id),
      (r) => r.apiKeyId ?? "",
    );
    expect(expected.size).toBeGreaterThan(1);
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(expected.keys()));
    for (const row of rows) expect(row).toMatchObject({ requests: expected.get(row.id)!.length, costMicroEur: sum(expected.get(row.id)!, (r) => r.costMicroEur) });
  });

  it("by region: the deployments' regions, with their GPU time; requests refused before routing as 'No region'", async () => {
    const { rows } = await usageBreakdown({ orgId: a.org.id, period: "30d", by: "region", now: new Date(now) });
    const regionOf = (deploymentId: string | null) => (deploymentId === null ? "" : deploymentId === depB.id ? regionB.id : a.region.id);
    const expected = groupBy(inWindow("30d"), (r) => regionOf(r.deploymentId));
    expect(new Set(rows.map((r) => r.id))).toEqual(new Set(expected.keys()));
    for (const row of rows) {
      const gpuCost = sum(gpuInWindow("30d").filter((g) => g.regionId === row.id), (g) => Number(g.costMicroEur));
      expect(row).toMatchObject({ requests: expected.get(row.id)!.length, costMicroEur: sum(expected.get(row.id)!, (r) => r.costMicroEur) + gpuCost });
    }
    expect(rows.find((r) => r.id === regionB.id)!.name).toBe(`${regionB.name} (${regionB.code})`);
    expect(rows.find((r) => r.id === "")!.name).toBe("No region");
  });
});

describe("the figures other pages show agree with the dashboards", () => {
  it("overview, admin organisations list: the 30-day figures of the usage summary", async () => {
    const s = await usageSummary({ orgId: a.org.id, period: "30d" });
    const overview = await organizationOverview(a.org.id);
    expect(overview.last30Days.requests).toBe(s.totals.requests);
    expect(overview.last30Days.tokens).toBe(s.totals.tokensIn + s.totals.tokensOut);
    expect(overview.last30Days.spend).toEqual({ gpuTimeEur: s.totals.gpuCostMicroEur / 1e6, requestsEur: s.totals.tokenCostMicroEur / 1e6, totalEur: s.totals.costMicroEur / 1e6 });
    const adminRow = (await listOrganizationsForAdmins()).find((o) => o.id === a.org.id)!;
    expect(adminRow.spendLast30Days).toEqual(overview.last30Days.spend);
  });

  it("API keys: this month's spend per key, from the daily roll-ups", async () => {
    const monthStart = startOfMonthUtc(new Date(now)).getTime();
    const keys = await listApiKeys(a.org.id);
    for (const id of [a.apiKey.id, keyRevoked.id]) {
      const spent = sum(raw.filter((r) => r.apiKeyId === id && r.createdAt.getTime() >= monthStart), (r) => r.costMicroEur);
      expect(keys.find((k) => k.id === id)!.spendThisMonthEur).toBeCloseTo(spent / 1e6, 9);
    }
  });
});

describe("platform dashboards", () => {
  let pool: pg.Pool;
  beforeAll(() => {
    pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 1 });
  });
  afterAll(() => pool.end());

  it("organisations × regions: requests, errors and cost (tokens + GPU time)", async () => {
    const { rows } = await organizationsUsage({ period: "7d", now: new Date(now) });
    const mine = rows.filter((r) => r.orgId === a.org.id);
    const regionOf = (deploymentId: string | null) => (deploymentId === null ? "" : deploymentId === depB.id ? regionB.id : a.region.id);
    const raw7d = inWindow("7d");
    expect(new Set(mine.map((r) => r.regionId))).toEqual(new Set(raw7d.map((r) => regionOf(r.deploymentId))));
    for (const row of mine) {
      const own = raw7d.filter((r) => regionOf(r.deploymentId) === row.regionId);
      const gpuCost = sum(gpuInWindow("7d").filter((g) => g.regionId === row.regionId), (g) => Number(g.costMicroEur));
      expect(row).toMatchObject({ slug: a.org.slug, name: a.org.name, requests: own.length, errors: own.filter((r) => r.status >= 400).length, costMicroEur: sum(own, (r) => r.costMicroEur) + gpuCost });
    }
    expect(mine.find((r) => r.regionId === regionB.id)!.regionCode).toBe(regionB.code);
    expect(mine.find((r) => r.regionId === "")!.regionCode).toBe("");
    const bRaw = (await db.usageRecord.findMany({ where: { orgId: b.org.id } })).filter((r) => within(r.createdAt, "7d"));
    const bRow = rows.find((r) => r.orgId === b.org.id && r.regionId === b.region.id)!;
    expect(bRow).toMatchObject({ requests: bRaw.length, costMicroEur: sum(bRaw, (r) => r.costMicroEur) + 9_000_000 });
    expect(rows.map((r) => r.costMicroEur)).toEqual([...rows.map((r) => r.costMicroEur)].sort((x, y) => y - x));
  });

  it("slowest deployments: by p95 from the merged histograms, slowest first, at most `limit`", async () => {
    const { rows } = await slowestDeployments({ period: "24h", limit: 100, now: new Date(now) });
    const p95s = rows.map((r) => r.latencyMs.p95!);
    expect(p95s).toEqual([...p95s].sort((x, y) => y - x));
    const bRow = rows.find((r) => r.deploymentId === b.deployment.id)!;
    const aRow = rows.find((r) => r.deploymentId === a.deployment.id)!;
    expect(rows.indexOf(bRow)).toBeLessThan(rows.indexOf(aRow));
    expect(aRow).toMatchObject({ deploymentName: a.deployment.name, orgId: a.org.id, orgSlug: a.org.slug, orgName: a.org.name, regionCode: a.region.code });
    const own = inWindow("24h").filter((r) => r.deploymentId === a.deployment.id);
    expect(aRow.requests).toBe(own.length);
    expectWithinBucket(aRow.latencyMs.p95, exact(own.map((r) => r.latencyMs), 0.95));
    expect((await slowestDeployments({ period: "24h", limit: 1, now: new Date(now) })).rows).toHaveLength(1);
  });

  it("capacity: the hour's highest sample per region and GPU type, a point only where a sample was taken", async () => {
    const { region, gpuType } = await gpuRegionFixture({ totalGpus: 32 });
    const setAllocated = (allocatedGpus: number) => db.regionCapacity.updateMany({ where: { regionId: region.id, gpuTypeId: gpuType.id }, data: { allocatedGpus } });
    const currentHour = () => Math.floor(Date.now() / HOUR) * HOUR;
    let hourNow: number;
    // Three samples within one hour (again, should the clock cross an hour meanwhile).
    do {
      hourNow = currentHour();
      await db.capacityHourly.deleteMany({ where: { regionId: region.id } });
      for (const allocated of [5, 12, 3]) {
        await setAllocated(allocated);
        await sampleCapacityOnce(pool);
      }
    } while (currentHour() !== hourNow);
    // An earlier hour, as an older sample left it.
    await db.capacityHourly.create({ data: { regionId: region.id, gpuTypeId: gpuType.id, hour: new Date(hourNow - 3 * HOUR), allocated: 20, capacity: 32 } });

    const series = (await capacityHistory({ period: "24h" })).series.find((s) => s.regionId === region.id && s.gpuTypeId === gpuType.id)!;
    expect(series).toMatchObject({ regionCode: region.code, regionName: region.name, gpuTypeName: gpuType.name });
    expect(series.points).toEqual([
      { t: new Date(hourNow - 3 * HOUR), allocated: 20, capacity: 32 },
      { t: new Date(hourNow), allocated: 12, capacity: 32 },
    ]);
    // Over 30 days, one point per day: the day's highest.
    const daily = (await capacityHistory({ period: "30d" })).series.find((s) => s.regionId === region.id)!;
    const today = Math.floor(Date.now() / DAY) * DAY;
    const sameDay = Math.floor((hourNow - 3 * HOUR) / DAY) * DAY === today;
    expect(daily.points.at(-1)).toEqual({ t: new Date(today), allocated: sameDay ? 20 : 12, capacity: 32 });
    // A region × GPU type never sampled still has its (empty) series.
    const fresh = await gpuRegionFixture();
    expect((await capacityHistory({ period: "7d" })).series.find((s) => s.regionId === fresh.region.id)?.points).toEqual([]);
  });

  it("are for platform administrators only", async () => {
    const admin = await createUser("usage-admin", { platformAdmin: true });
    expect((await callerFor(admin.id).admin.dashboard.slowestDeployments({ period: "7d" })).rows.length).toBeGreaterThan(0);
    expect(await outcome(() => callerFor(a.ownerId).admin.dashboard.organizations({ period: "7d" }))).toBe("FORBIDDEN");
  });
});

describe("over REST, the same figures", () => {
  let server: RestServer;
  beforeAll(async () => {
    server = await startRestServer();
  });
  afterAll(() => server.close());

  it("GET /orgs/{org}/usage/summary, /latency and /breakdown with a read key", async () => {
    const { key } = await issueKey(a.org.id, a.ownerId, ["read"], "finops");
    const viaTrpc = await callerFor(a.ownerId).usage.summary({ orgId: a.org.id, period: "30d" });
    const summary = await call(server, "GET", `/orgs/${a.org.slug}/usage/summary?period=30d`, { auth: key });
    expect(summary.status).toBe(200);
    expect(summary.body.totals).toEqual(viaTrpc.totals);
    expect(summary.body.series).toHaveLength(30);
    expect(summary.body.series[0].t).toBe(viaTrpc.series[0].t.toISOString());

    const latency = await call(server, "GET", `/orgs/${a.org.slug}/usage/latency?period=7d&deploymentId=${depB.id}`, { auth: key });
    expect(latency.status).toBe(200);
    expect(latency.body.latency.buckets.at(-1).leMs).toBeNull();

    const breakdown = await call(server, "GET", `/orgs/${a.org.slug}/usage/breakdown?period=90d&by=region`, { auth: key });
    expect(breakdown.status).toBe(200);
    expect(breakdown.body.rows.map((r: { id: string }) => r.id)).toContain(regionB.id);

    const bad = await call(server, "GET", `/orgs/${a.org.slug}/usage/summary?period=1y`, { auth: key });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/period must be one of 24h, 7d, 30d, 90d/);
  });
});
