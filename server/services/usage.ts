/**
 * The usage dashboards' read models (docs/usage-read-models.md): requests, errors, tokens, cost
 * and latency of an organisation, and the platform administrators' views across organisations.
 * They read the roll-ups only (hours for 24 h and 7 d, days for 30 d and 90 d and the whole days of
 * a 7 d total; mostly the totals tables, see `grain`; written by usage-rollup.ts) plus the metered GPU time (GpuUsage),
 * never the raw UsageRecord rows: each read is an indexed range of roll-up rows summed in
 * PostgreSQL, so its cost grows with buckets × deployments × keys, not with requests.
 * Percentiles come from the merged histograms (lib/histogram.ts), never from averaged percentiles.
 */
import { BUCKET_COUNT, bucketUpperBound, emptyHistogram, percentile } from "../../lib/histogram";
import { BUCKET_MS, USAGE_PERIOD_SPEC, type UsageBucket, type UsagePeriod } from "../../lib/usage-periods";
import { db } from "../db";
import { DomainError } from "../errors";
import { Prisma } from "../generated/prisma/client";
import { decodeOutcome, GUARDRAIL_RULE_NAMES, type GuardrailRule } from "../guardrails/types";

export { USAGE_PERIODS, type UsagePeriod } from "../../lib/usage-periods";

// ─── Periods ─────────────────────────────────────────────────────────────────

export interface UsageWindow {
  period: UsagePeriod;
  bucket: UsageBucket;
  /** The start of the first bucket. */
  from: Date;
  /** Now: the last bucket is the current, partial one. */
  to: Date;
  /** The start of every bucket, oldest first: the axis, whole, one point per bucket. */
  points: Date[];
}

const truncate = (t: number, bucket: UsageBucket) => Math.floor(t / BUCKET_MS[bucket]) * BUCKET_MS[bucket];

/** The buckets a period covers, ending with the one `now` falls in (hours and days in UTC). */
export function usageWindow(period: UsagePeriod, now: Date = new Date()): UsageWindow {
  const { bucket, buckets } = USAGE_PERIOD_SPEC[period];
  const last = truncate(now.getTime(), bucket);
  const points = Array.from({ length: buckets }, (_, i) => new Date(last - (buckets - 1 - i) * BUCKET_MS[bucket]));
  return { period, bucket, from: points[0], to: now, points };
}

// ─── Aggregation over the roll-ups ───────────────────────────────────────────

/** What one group of roll-up rows adds up to (a bucket of time, a deployment, a key, a region…). */
interface RollupSums {
  key: string;
  requests: number;
  errors: number;
  tokensIn: number;
  tokensOut: number;
  tokenCostMicroEur: number;
  generationMs: number;
  tokensOutStreamed: number;
  /** Merged latency / TTFT histograms (counts per bucket of lib/histogram.ts, overflow last). */
  latency: number[];
  ttft: number[];
}

function addInto(target: number[], source: readonly number[]) {
  for (let i = 0; i < source.length; i++) target[i] = (target[i] ?? 0) + (source[i] ?? 0);
  return target;
}

const emptySums = (key: string): RollupSums => ({
  key,
  requests: 0,
  errors: 0,
  tokensIn: 0,
  tokensOut: 0,
  tokenCostMicroEur: 0,
  generationMs: 0,
  tokensOutStreamed: 0,
  latency: emptyHistogram(),
  ttft: emptyHistogram(),
});

function mergeSums(into: RollupSums, s: RollupSums): RollupSums {
  into.requests += s.requests;
  into.errors += s.errors;
  into.tokensIn += s.tokensIn;
  into.tokensOut += s.tokensOut;
  into.tokenCostMicroEur += s.tokenCostMicroEur;
  into.generationMs += s.generationMs;
  into.tokensOutStreamed += s.tokensOutStreamed;
  addInto(into.latency, s.latency);
  addInto(into.ttft, s.ttft);
  return into;
}

const TIME: Record<UsageBucket, Prisma.Sql> = { hour: Prisma.raw(`r."hour"`), day: Prisma.raw(`r."day"`) };
const TABLE: Record<"detail" | "totals", Record<UsageBucket, Prisma.Sql>> = {
  detail: { hour: Prisma.raw(`"UsageHourly"`), day: Prisma.raw(`"UsageDaily"`) },
  totals: { hour: Prisma.raw(`"UsageHourlyTotal"`), day: Prisma.raw(`"UsageDailyTotal"`) },
};

/**
 * Which roll-up rows a read sums, by what it groups on: the totals tables hold, per organisation
 * and bucket, one row per deployment (all keys: `apiKeyId` "*"), one per key (all deployments:
 * `deploymentId` "*") and one for everything ("*", "*"), so a chart of the whole organisation
 * reads one row per bucket instead of one per deployment × key. Only a deployment's figures
 * split by key need the detailed tables. `deploymentId` narrows to one deployment.
 */
interface Grain {
  rows: "detail" | "totals";
  where: Prisma.Sql[];
}

function grain(by: "all" | "deployment" | "key", deploymentId?: string): Grain {
  const one = deploymentId !== undefined ? [Prisma.sql`r."deploymentId" = ${deploymentId}`] : [];
  if (by === "key" && deploymentId !== undefined) return { rows: "detail", where: one };
  if (by === "key") return { rows: "totals", where: [Prisma.sql`r."deploymentId" = '*'`, Prisma.sql`r."apiKeyId" <> '*'`] };
  if (by === "deployment") return { rows: "totals", where: [Prisma.sql`r."apiKeyId" = '*'`, Prisma.sql`r."deploymentId" <> '*'`, ...one] };
  return { rows: "totals", where: [Prisma.sql`r."apiKeyId" = '*'`, deploymentId !== undefined ? one[0] : Prisma.sql`r."deploymentId" = '*'`] };
}

/** The end of the window's last (current) bucket: rows stamped later are not the period's. */
const windowEnd = (w: UsageWindow) => new Date(w.points[w.points.length - 1].getTime() + BUCKET_MS[w.bucket]);
const utcDate = (t: Date) => t.toISOString().slice(0, 10);

/** [from, to) in one roll-up table; both ends on its buckets' boundaries. */
interface RollupRange {
  bucket: UsageBucket;
  from: Date;
  to: Date;
}

/** The roll-up row `r` is in the range (dates for the daily table: its days are UTC dates). */
function rangeClause(range: RollupRange): Prisma.Sql {
  return range.bucket === "hour"
    ? Prisma.sql`r."hour" >= ${range.from} AND r."hour" < ${range.to}`
    : Prisma.sql`r."day" >= ${utcDate(range.from)}::date AND r."day" < ${utcDate(range.to)}::date`;
}

/** The window in its own buckets: what a series reads. */
const bucketRange = (w: UsageWindow): RollupRange => ({ bucket: w.bucket, from: w.from, to: windowEnd(w) });

/**
 * The window in as few roll-up rows as possible, for figures over the whole period: the whole UTC
 * days inside it from the daily table, the hours before and after them from the hourly one (7 days
 * of hours: about 6 daily and 47 hourly rows per deployment × key, instead of 168 hourly ones).
 * The fold writes an hour's and its day's rows in one transaction, so both tables agree.
 */
function coveringRanges(w: UsageWindow): RollupRange[] {
  const end = windowEnd(w);
  if (w.bucket === "day") return [{ bucket: "day", from: w.from, to: end }];
  const firstDay = new Date(Math.ceil(w.from.getTime() / BUCKET_MS.day) * BUCKET_MS.day);
  const lastDay = new Date(Math.floor(end.getTime() / BUCKET_MS.day) * BUCKET_MS.day);
  if (firstDay >= lastDay) return [{ bucket: "hour", from: w.from, to: end }];
  return [
    ...(w.from < firstDay ? [{ bucket: "hour" as const, from: w.from, to: firstDay }] : []),
    { bucket: "day", from: firstDay, to: lastDay },
    ...(lastDay < end ? [{ bucket: "hour" as const, from: lastDay, to: end }] : []),
  ];
}


/**
 * `ARRAY[sum(r.col[1]), …, sum(r.col[N])]`: a histogram column summed bucket by bucket. One
 * aggregate per bucket reads each row once (an array subscript is O(1) on these fixed-width
 * arrays), several times faster than unnesting every row into N cells and grouping them.
 */
const summedHistogram = (column: "latencyBuckets" | "ttftBuckets") =>
  Prisma.raw(`ARRAY[${Array.from({ length: BUCKET_COUNT }, (_, i) => `sum(r."${column}"[${i + 1}])`).join(", ")}]::float8[]`);
const SUMMED_LATENCY = summedHistogram("latencyBuckets");
const SUMMED_TTFT = summedHistogram("ttftBuckets");

interface SumOptions {
  /** The group: an SQL expression over the roll-up row `r` (and its deployment `d`, with `joinDeployment`). */
  key: Prisma.Sql;
  grain: Grain;
  /** Further conditions on `r`. */
  where?: Prisma.Sql[];
  joinDeployment?: boolean;
  histograms?: boolean;
}

/** Sums the roll-up rows of one range that match `where`, grouped by `key`, in one pass in PostgreSQL: one row per group comes back. */
async function sumRange(range: RollupRange, options: SumOptions): Promise<RollupSums[]> {
  const table = TABLE[options.grain.rows][range.bucket];
  const where = Prisma.join([rangeClause(range), ...options.grain.where, ...(options.where ?? [])], " AND ");
  const join = options.joinDeployment ? Prisma.sql`LEFT JOIN "Deployment" d ON d.id = r."deploymentId" AND d."orgId" = r."orgId"` : Prisma.empty;
  const histograms = options.histograms ?? true;
  const rows = await db.$queryRaw<
    { key: string | Date; requests: number; errors: number; tokensIn: number; tokensOut: number; cost: number; generationMs: number; tokensOutStreamed: number; latency: (number | null)[] | null; ttft: (number | null)[] | null }[]
  >`
    SELECT ${options.key} AS key, sum(r.requests)::float8 AS requests, sum(r.errors)::float8 AS errors, sum(r."tokensIn")::float8 AS "tokensIn",
           sum(r."tokensOut")::float8 AS "tokensOut", sum(r."costMicroEur")::float8 AS cost, sum(r."generationMs")::float8 AS "generationMs",
           sum(r."tokensOutStreamed")::float8 AS "tokensOutStreamed",
           ${histograms ? SUMMED_LATENCY : Prisma.sql`NULL::float8[]`} AS latency, ${histograms ? SUMMED_TTFT : Prisma.sql`NULL::float8[]`} AS ttft
    FROM ${table} r ${join}
    WHERE ${where}
    GROUP BY 1`;
  return rows.map((r) => ({
    // A series groups by the time column itself (cheaper to hash than an expression): its key is the bucket's epoch ms.
    key: r.key instanceof Date ? String(r.key.getTime()) : r.key,
    requests: r.requests,
    errors: r.errors,
    tokensIn: r.tokensIn,
    tokensOut: r.tokensOut,
    tokenCostMicroEur: r.cost,
    generationMs: r.generationMs,
    tokensOutStreamed: r.tokensOutStreamed,
    // A bucket no row has (sum over nothing) is NULL: zero.
    latency: addInto(emptyHistogram(), (r.latency ?? []).map((c) => c ?? 0)),
    ttft: addInto(emptyHistogram(), (r.ttft ?? []).map((c) => c ?? 0)),
  }));
}

/** Per bucket of the window (the series): the window's own roll-up table, grouped by bucket. */
const sumPerBucket = (w: UsageWindow, grain: Grain) => sumRange(bucketRange(w), { key: TIME[w.bucket], grain });

/** Over the whole window, grouped by `key`: daily rows where whole days allow, hourly ones around them. */
async function sumOverWindow(w: UsageWindow, options: SumOptions): Promise<RollupSums[]> {
  const parts = await Promise.all(coveringRanges(w).map((range) => sumRange(range, options)));
  const byKey = new Map<string, RollupSums>();
  for (const s of parts.flat()) {
    const into = byKey.get(s.key);
    if (into) mergeSums(into, s);
    else byKey.set(s.key, s);
  }
  return [...byKey.values()];
}

/**
 * GPU time metered in the window (GpuUsage, by the start of each slice: the index's column),
 * in micro-euros, grouped by `key` (an SQL expression over the slice `g`).
 */
async function sumGpuCost(w: UsageWindow, options: { key: Prisma.Sql; where: Prisma.Sql[] }): Promise<Map<string, number>> {
  const where = Prisma.join([Prisma.sql`g."periodStart" >= ${w.from}`, Prisma.sql`g."periodStart" < ${windowEnd(w)}`, ...options.where], " AND ");
  const rows = await db.$queryRaw<{ key: string; cost: number }[]>`
    SELECT ${options.key} AS key, sum(g."costMicroEur")::float8 AS cost FROM "GpuUsage" g WHERE ${where} GROUP BY 1`;
  return new Map(rows.map((r) => [r.key, r.cost]));
}

const gpuTimeKey = (w: UsageWindow) => Prisma.sql`(extract(epoch from date_trunc(${w.bucket}, g."periodStart")) * 1000)::bigint::text`;

// ─── Figures ─────────────────────────────────────────────────────────────────

const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The q-quantile of a merged histogram, in ms; null without data. */
function quantile(histogram: number[], q: number): number | null {
  if (!histogram.some((c) => c > 0)) return null;
  const value = percentile(histogram, q);
  return value === null || value === undefined || !Number.isFinite(value) ? null : round(value);
}

const latencyFigures = (s: RollupSums) => ({ p50: quantile(s.latency, 0.5), p95: quantile(s.latency, 0.95), p99: quantile(s.latency, 0.99) });
const ttftFigures = (s: RollupSums) => ({ p50: quantile(s.ttft, 0.5), p95: quantile(s.ttft, 0.95) });
const outputTokensPerSecond = (s: RollupSums) => (s.generationMs > 0 ? round(s.tokensOutStreamed / (s.generationMs / 1000)) : null);

// ─── Organisation ────────────────────────────────────────────────────────────

export interface UsageScope {
  orgId: string;
  period: UsagePeriod;
  /** One deployment of the organisation (its page); any other id is "not found". */
  deploymentId?: string;
  now?: Date;
}

/** Refuses a deployment id that is not one of the organisation's (deleted ones included: their history stays readable). */
async function checkDeployment(orgId: string, deploymentId: string | undefined) {
  if (deploymentId === undefined) return;
  const found = await db.deployment.findFirst({ where: { id: deploymentId, orgId }, select: { id: true } });
  if (!found) throw new DomainError("NOT_FOUND", "Deployment was not found", { field: "deploymentId" });
}

/** The organisation's (or its one deployment's) rows, grouped by `by`. */
const orgGrain = (scope: UsageScope, by: "all" | "deployment" | "key" = "all"): Grain => {
  const g = grain(by, scope.deploymentId);
  return { rows: g.rows, where: [Prisma.sql`r."orgId" = ${scope.orgId}`, ...g.where] };
};
const orgGpuWhere = (scope: UsageScope) => [
  Prisma.sql`g."orgId" = ${scope.orgId}`,
  ...(scope.deploymentId !== undefined ? [Prisma.sql`g."deploymentId" = ${scope.deploymentId}`] : []),
];

/** Error answers by HTTP status over the window ("errorsByStatus": {"429": 3}), most frequent first. */
async function errorsByStatus(w: UsageWindow, grain: Grain) {
  const parts = await Promise.all(
    coveringRanges(w).map(
      (range) => db.$queryRaw<{ status: string; count: number }[]>`
        SELECT e.key AS status, sum(e.value::int)::float8 AS count
        FROM ${TABLE[grain.rows][range.bucket]} r CROSS JOIN LATERAL jsonb_each_text(r."errorsByStatus") e
        WHERE ${Prisma.join([rangeClause(range), ...grain.where], " AND ")}
        GROUP BY 1`,
    ),
  );
  const counts = new Map<number, number>();
  for (const { status, count } of parts.flat()) {
    const code = Number(status);
    if (Number.isInteger(code)) counts.set(code, (counts.get(code) ?? 0) + count);
  }
  return [...counts]
    .filter(([, count]) => count > 0)
    .map(([status, count]) => ({ status, count }))
    .sort((a, b) => b.count - a.count || a.status - b.status);
}

/**
 * The organisation's (or one deployment's) dashboard over a period: totals, a series with one
 * point per bucket of the whole period (zero where nothing happened), and errors by HTTP status.
 * Cost is the requests' token cost plus the GPU time metered.
 */
export async function usageSummary(scope: UsageScope) {
  await checkDeployment(scope.orgId, scope.deploymentId);
  const w = usageWindow(scope.period, scope.now);
  const [sums, gpu, statuses] = await Promise.all([
    sumPerBucket(w, orgGrain(scope)),
    sumGpuCost(w, { key: gpuTimeKey(w), where: orgGpuWhere(scope) }),
    errorsByStatus(w, orgGrain(scope)),
  ]);
  const byTime = new Map(sums.map((s) => [s.key, s]));
  const total = emptySums("total");
  let gpuCostMicroEur = 0;
  const series = w.points.map((t) => {
    const key = String(t.getTime());
    const s = byTime.get(key) ?? emptySums(key);
    const gpuCost = gpu.get(key) ?? 0;
    mergeSums(total, s);
    gpuCostMicroEur += gpuCost;
    return {
      t,
      requests: s.requests,
      errors: s.errors,
      tokensIn: s.tokensIn,
      tokensOut: s.tokensOut,
      costMicroEur: s.tokenCostMicroEur + gpuCost,
      latencyMs: latencyFigures(s),
      ttftMs: ttftFigures(s),
    };
  });
  return {
    period: w.period,
    from: w.from,
    to: w.to,
    bucket: w.bucket,
    totals: {
      requests: total.requests,
      errors: total.errors,
      tokensIn: total.tokensIn,
      tokensOut: total.tokensOut,
      tokenCostMicroEur: total.tokenCostMicroEur,
      gpuCostMicroEur,
      costMicroEur: total.tokenCostMicroEur + gpuCostMicroEur,
      latencyMs: latencyFigures(total),
      ttftMs: ttftFigures(total),
      outputTokensPerSecond: outputTokensPerSecond(total),
    },
    series,
    errorsByStatus: statuses,
  };
}

/** A histogram as the latency page draws it: one bar per bucket, `leMs` its (exclusive) upper bound, null for the overflow. */
function histogramFigures(histogram: number[]) {
  return {
    buckets: histogram.map((count, i) => ({ leMs: bucketUpperBound(i), count })),
    p50: quantile(histogram, 0.5),
    p95: quantile(histogram, 0.95),
    p99: quantile(histogram, 0.99),
  };
}

/** The latency and time-to-first-token distributions over a period, merged from the roll-ups. */
export async function usageLatency(scope: UsageScope) {
  await checkDeployment(scope.orgId, scope.deploymentId);
  const w = usageWindow(scope.period, scope.now);
  const [sums] = await sumOverWindow(w, { key: Prisma.sql`''`, grain: orgGrain(scope) });
  const s = sums ?? emptySums("");
  return { latency: histogramFigures(s.latency), ttft: histogramFigures(s.ttft) };
}

export type UsageBreakdownBy = "deployment" | "key" | "region";

/** A deleted deployment's stored name carries "~deleted-<id>" (workers/reconcile): shown as "name (deleted)". */
export function deploymentLabel(d: { name: string; deletedAt: Date | null } | undefined): string {
  if (!d) return "Deleted deployment";
  const base = d.name.replace(/~deleted-.*$/, "");
  return d.deletedAt || base !== d.name ? `${base} (deleted)` : base;
}

/**
 * The period's figures per deployment, per API key or per region, most expensive first. A row
 * whose deployment or key no longer exists keeps its figures, named as deleted; "" (requests
 * refused before routing, or without a key) is "No deployment" / "No key" / "No region". GPU time
 * belongs to deployments (and their regions): rows per key carry their token cost only.
 */
export async function usageBreakdown(scope: UsageScope & { by: UsageBreakdownBy }) {
  await checkDeployment(scope.orgId, scope.deploymentId);
  const w = usageWindow(scope.period, scope.now);
  const rollupKey = { deployment: Prisma.sql`r."deploymentId"`, key: Prisma.sql`r."apiKeyId"`, region: Prisma.sql`coalesce(d."regionId", '')` }[scope.by];
  const [sums, gpu] = await Promise.all([
    sumOverWindow(w, { key: rollupKey, grain: orgGrain(scope, scope.by === "key" ? "key" : "deployment"), joinDeployment: scope.by === "region" }),
    scope.by === "key"
      ? Promise.resolve(new Map<string, number>())
      : sumGpuCost(w, { key: scope.by === "deployment" ? Prisma.sql`g."deploymentId"` : Prisma.sql`g."regionId"`, where: orgGpuWhere(scope) }),
  ]);
  const byKey = new Map(sums.map((s) => [s.key, s]));
  for (const key of gpu.keys()) if (!byKey.has(key)) byKey.set(key, emptySums(key));
  const ids = [...byKey.keys()].filter((id) => id !== "");
  const names = await rowNames(scope.orgId, scope.by, ids);
  const rows = [...byKey.values()].map((s) => ({
    id: s.key,
    name: names(s.key),
    requests: s.requests,
    errors: s.errors,
    tokensIn: s.tokensIn,
    tokensOut: s.tokensOut,
    costMicroEur: s.tokenCostMicroEur + (gpu.get(s.key) ?? 0),
    latencyMs: latencyFigures(s),
    ttftMs: ttftFigures(s),
  }));
  rows.sort((a, b) => b.costMicroEur - a.costMicroEur || b.requests - a.requests || a.name.localeCompare(b.name));
  return { rows };
}

async function rowNames(orgId: string, by: UsageBreakdownBy, ids: string[]): Promise<(id: string) => string> {
  if (by === "deployment") {
    const found = ids.length ? await db.deployment.findMany({ where: { orgId, id: { in: ids } }, select: { id: true, name: true, deletedAt: true } }) : [];
    const byId = new Map(found.map((d) => [d.id, d]));
    return (id) => (id === "" ? "No deployment" : deploymentLabel(byId.get(id)));
  }
  if (by === "key") {
    const found = ids.length ? await db.apiKey.findMany({ where: { orgId, id: { in: ids } }, select: { id: true, name: true, revokedAt: true } }) : [];
    const byId = new Map(found.map((k) => [k.id, k]));
    return (id) => {
      if (id === "") return "No key";
      const k = byId.get(id);
      return !k ? "Deleted key" : k.revokedAt ? `${k.name} (revoked)` : k.name;
    };
  }
  const found = ids.length ? await db.region.findMany({ where: { id: { in: ids } }, select: { id: true, code: true, name: true } }) : [];
  const byId = new Map(found.map((r) => [r.id, r]));
  return (id) => {
    if (id === "") return "No region";
    const r = byId.get(id);
    return r ? `${r.name} (${r.code})` : "Deleted region";
  };
}

// ─── Platform administration ─────────────────────────────────────────────────

/**
 * GPUs allocated vs capacity per region and GPU type over the period (CapacityHourly, sampled by
 * workers/jobs/sample-capacity.ts): one point per bucket of the period that has a sample, with
 * the bucket's highest figures. A bucket without one (before sampling started, or while the
 * workers were down) has no point rather than a made-up zero.
 */
export async function capacityHistory(input: { period: UsagePeriod; now?: Date }) {
  const w = usageWindow(input.period, input.now);
  const [samples, current] = await Promise.all([
    db.$queryRaw<{ regionId: string; gpuTypeId: string; t: string; allocated: number; capacity: number }[]>`
      SELECT c."regionId", c."gpuTypeId", (extract(epoch from date_trunc(${w.bucket}, c.hour)) * 1000)::bigint::text AS t,
             max(c.allocated)::int AS allocated, max(c.capacity)::int AS capacity
      FROM "CapacityHourly" c WHERE c.hour >= ${w.from} AND c.hour < ${windowEnd(w)}
      GROUP BY 1, 2, 3`,
    db.regionCapacity.findMany({ select: { regionId: true, gpuTypeId: true } }),
  ]);
  const pairs = new Map<string, { regionId: string; gpuTypeId: string; points: Map<string, { allocated: number; capacity: number }> }>();
  const pair = (regionId: string, gpuTypeId: string) => {
    const k = `${regionId}/${gpuTypeId}`;
    return pairs.get(k) ?? pairs.set(k, { regionId, gpuTypeId, points: new Map() }).get(k)!;
  };
  for (const c of current) pair(c.regionId, c.gpuTypeId);
  for (const s of samples) pair(s.regionId, s.gpuTypeId).points.set(s.t, { allocated: s.allocated, capacity: s.capacity });
  const regionIds = [...new Set([...pairs.values()].map((p) => p.regionId))];
  const gpuTypeIds = [...new Set([...pairs.values()].map((p) => p.gpuTypeId))];
  const [regions, gpuTypes] = await Promise.all([
    db.region.findMany({ where: { id: { in: regionIds } }, select: { id: true, code: true, name: true } }),
    db.gpuType.findMany({ where: { id: { in: gpuTypeIds } }, select: { id: true, name: true } }),
  ]);
  const regionById = new Map(regions.map((r) => [r.id, r]));
  const gpuTypeById = new Map(gpuTypes.map((g) => [g.id, g]));
  const series = [...pairs.values()]
    .filter((p) => regionById.has(p.regionId) && gpuTypeById.has(p.gpuTypeId))
    .map((p) => {
      const region = regionById.get(p.regionId)!;
      return {
        regionId: p.regionId,
        regionCode: region.code,
        regionName: region.name,
        gpuTypeId: p.gpuTypeId,
        gpuTypeName: gpuTypeById.get(p.gpuTypeId)!.name,
        points: w.points.flatMap((t) => {
          const sample = p.points.get(String(t.getTime()));
          return sample ? [{ t, allocated: sample.allocated, capacity: sample.capacity }] : [];
        }),
      };
    });
  series.sort((a, b) => a.regionCode.localeCompare(b.regionCode) || a.gpuTypeName.localeCompare(b.gpuTypeName));
  return { series };
}

/**
 * Requests, errors and cost (tokens + GPU time) per organisation × region over the period,
 * most expensive first. The region is the deployment's; requests refused before routing have
 * none ("" for its id and code, like the breakdowns' "none").
 */
export async function organizationsUsage(input: { period: UsagePeriod; now?: Date }) {
  const w = usageWindow(input.period, input.now);
  const [sums, gpu] = await Promise.all([
    sumOverWindow(w, { key: Prisma.sql`r."orgId" || '/' || coalesce(d."regionId", '')`, grain: grain("deployment"), joinDeployment: true, histograms: false }),
    sumGpuCost(w, { key: Prisma.sql`g."orgId" || '/' || g."regionId"`, where: [] }),
  ]);
  const byKey = new Map(sums.map((s) => [s.key, s]));
  for (const key of gpu.keys()) if (!byKey.has(key)) byKey.set(key, emptySums(key));
  const split = (key: string) => {
    const at = key.indexOf("/");
    return { orgId: key.slice(0, at), regionId: key.slice(at + 1) };
  };
  const keys = [...byKey.keys()].map(split);
  const [orgs, regions] = await Promise.all([
    db.organization.findMany({ where: { id: { in: [...new Set(keys.map((k) => k.orgId))] } }, select: { id: true, slug: true, name: true } }),
    db.region.findMany({ where: { id: { in: [...new Set(keys.map((k) => k.regionId).filter(Boolean))] } }, select: { id: true, code: true } }),
  ]);
  const orgById = new Map(orgs.map((o) => [o.id, o]));
  const regionById = new Map(regions.map((r) => [r.id, r]));
  const rows = [...byKey.values()].flatMap((s) => {
    const { orgId, regionId } = split(s.key);
    const org = orgById.get(orgId);
    if (!org) return [];
    return [
      {
        orgId,
        slug: org.slug,
        name: org.name,
        regionId,
        regionCode: regionId ? (regionById.get(regionId)?.code ?? "deleted") : "",
        requests: s.requests,
        errors: s.errors,
        costMicroEur: s.tokenCostMicroEur + (gpu.get(s.key) ?? 0),
      },
    ];
  });
  rows.sort((a, b) => b.costMicroEur - a.costMicroEur || b.requests - a.requests || a.name.localeCompare(b.name));
  return { rows };
}

/** The deployments with the slowest p95 latency over the period, across organisations. */
export async function slowestDeployments(input: { period: UsagePeriod; limit: number; now?: Date }) {
  const w = usageWindow(input.period, input.now);
  const sums = (await sumOverWindow(w, { key: Prisma.sql`r."deploymentId"`, grain: grain("deployment"), where: [Prisma.sql`r."deploymentId" <> ''`] })).filter((s) => s.latency.some((c) => c > 0));
  const ranked = sums
    .map((s) => ({ s, latency: latencyFigures(s) }))
    .sort((a, b) => (b.latency.p95 ?? 0) - (a.latency.p95 ?? 0) || (b.latency.p99 ?? 0) - (a.latency.p99 ?? 0) || b.s.requests - a.s.requests)
    .slice(0, input.limit);
  const deployments = await db.deployment.findMany({
    where: { id: { in: ranked.map((r) => r.s.key) } },
    select: { id: true, name: true, deletedAt: true, org: { select: { id: true, slug: true, name: true } }, region: { select: { code: true } } },
  });
  const byId = new Map(deployments.map((d) => [d.id, d]));
  return {
    rows: ranked.flatMap(({ s, latency }) => {
      const d = byId.get(s.key);
      if (!d) return [];
      return [
        {
          deploymentId: d.id,
          deploymentName: deploymentLabel(d),
          orgId: d.org.id,
          orgSlug: d.org.slug,
          orgName: d.org.name,
          regionCode: d.region.code,
          requests: s.requests,
          latencyMs: latency,
          ttftMs: { p95: quantile(s.ttft, 0.95) },
        },
      ];
    }),
  };
}

// ─── Spend (overview, API keys, admin organisations) ─────────────────────────

/**
 * Token cost and request counts per organisation over a period, from the roll-ups: the figure
 * behind the overview and the admin organisations list (workloads.ts adds GPU time).
 */
export async function requestTotalsByOrganization(period: UsagePeriod, orgIds?: string[], now?: Date) {
  const w = usageWindow(period, now);
  const sums = await sumOverWindow(w, {
    key: Prisma.sql`r."orgId"`,
    grain: grain("all"),
    where: orgIds ? [Prisma.sql`r."orgId" IN (${Prisma.join(orgIds.length ? orgIds : [""])})`] : [],
    histograms: false,
  });
  return { window: w, byOrg: new Map(sums.map((s) => [s.key, s])) };
}

/** GPU time per organisation over a period (GpuUsage), in micro-euros. */
export async function gpuCostByOrganization(period: UsagePeriod, orgIds?: string[], now?: Date) {
  const w = usageWindow(period, now);
  return sumGpuCost(w, { key: Prisma.sql`g."orgId"`, where: orgIds ? [Prisma.sql`g."orgId" IN (${Prisma.join(orgIds.length ? orgIds : [""])})`] : [] });
}

/** What each API key of the organisation spent since `since` (a UTC midnight: the month's start), in micro-euros. */
export async function spendByApiKey(orgId: string, since: Date): Promise<Map<string, number>> {
  const rows = await db.$queryRaw<{ apiKeyId: string; cost: number }[]>`
    SELECT r."apiKeyId", sum(r."costMicroEur")::float8 AS cost
    FROM "UsageDailyTotal" r WHERE r."orgId" = ${orgId} AND r."day" >= ${utcDate(since)}::date AND r."deploymentId" = '*' AND r."apiKeyId" NOT IN ('', '*')
    GROUP BY 1`;
  return new Map(rows.map((r) => [r.apiKeyId, r.cost]));
}

// ─── Guardrail verdicts (docs/guardrails.md, "Dashboards") ───────────────────

/** Verdicts of one check at one stage, by outcome (the roll-ups' `guardrails` counts, decoded). */
export interface GuardrailCounts {
  /** Verdicts: every request the check ran on. */
  checked: number;
  passed: number;
  /** Failed, recorded only (observe). */
  flagged: number;
  redacted: number;
  blocked: number;
  /** The check could not decide (a judge unreachable, …). */
  errors: number;
  /** flagged + redacted + blocked: the check found something, whatever its action. */
  failed: number;
}

const OUTCOME_FIELD = { pass: "passed", flagged: "flagged", redacted: "redacted", blocked: "blocked", error: "errors" } as const;
const emptyCounts = (): GuardrailCounts => ({ checked: 0, passed: 0, flagged: 0, redacted: 0, blocked: 0, errors: 0, failed: 0 });
const emptyRuleCounts = () => new Map<GuardrailRule, GuardrailCounts>(GUARDRAIL_RULE_NAMES.map((rule) => [rule, emptyCounts()]));

/** Adds `n` verdicts of outcome code `code` (unknown codes, of a later version, are skipped). */
function addOutcome(into: Map<GuardrailRule, GuardrailCounts>, code: number, n: number) {
  const decoded = decodeOutcome(code);
  if (!decoded || !Number.isInteger(code) || code < 0) return;
  const c = into.get(decoded.rule)!;
  c[OUTCOME_FIELD[decoded.outcome]] += n;
  c.checked += n;
  if (decoded.outcome === "flagged" || decoded.outcome === "redacted" || decoded.outcome === "blocked") c.failed += n;
}

function sumCounts(counts: Iterable<GuardrailCounts>): GuardrailCounts {
  const total = emptyCounts();
  for (const c of counts) for (const k of Object.keys(total) as (keyof GuardrailCounts)[]) total[k] += c[k];
  return total;
}

const ruleRows = (m: Map<GuardrailRule, GuardrailCounts>) =>
  GUARDRAIL_RULE_NAMES.map((rule) => {
    const [check, stage] = rule.split(".") as [string, "input" | "output"];
    return { rule, check, stage, ...m.get(rule)! };
  });

/** Verdict counts of the rows of `ranges` matching `grain`, per `key` (an SQL expression over the roll-up row `r`) and rule. */
async function guardrailCountsBy(ranges: RollupRange[], grain: Grain, key: Prisma.Sql) {
  const parts = await Promise.all(
    ranges.map(
      (range) => db.$queryRaw<{ key: string | Date; code: string; count: number }[]>`
        SELECT ${key} AS key, e.key AS code, sum(e.value::int)::float8 AS count
        FROM ${TABLE[grain.rows][range.bucket]} r CROSS JOIN LATERAL jsonb_each_text(r.guardrails) e
        WHERE ${Prisma.join([rangeClause(range), ...grain.where, Prisma.sql`r.guardrails <> '{}'::jsonb`], " AND ")}
        GROUP BY 1, 2`,
    ),
  );
  const byKey = new Map<string, Map<GuardrailRule, GuardrailCounts>>();
  for (const row of parts.flat()) {
    const k = row.key instanceof Date ? String(row.key.getTime()) : row.key;
    const m = byKey.get(k) ?? byKey.set(k, emptyRuleCounts()).get(k)!;
    addOutcome(m, Number(row.code), row.count);
  }
  return byKey;
}

/**
 * Guardrail verdicts of the organisation (or of one deployment) over a period, from the roll-ups:
 * per rule (check × stage) the verdicts by outcome; the same per deployment and per key (rows with
 * at least one verdict, most failures first); and per bucket of the whole period the verdicts that
 * failed (flagged, redacted, blocked) and the errors. Records written before verdicts were recorded
 * count none.
 */
export async function usageGuardrails(scope: UsageScope) {
  await checkDeployment(scope.orgId, scope.deploymentId);
  const w = usageWindow(scope.period, scope.now);
  const ranges = coveringRanges(w);
  const [overall, perBucket, perDeployment, perKey] = await Promise.all([
    guardrailCountsBy(ranges, orgGrain(scope), Prisma.sql`''`),
    guardrailCountsBy([bucketRange(w)], orgGrain(scope), TIME[w.bucket]),
    guardrailCountsBy(ranges, orgGrain(scope, "deployment"), Prisma.sql`r."deploymentId"`),
    guardrailCountsBy(ranges, orgGrain(scope, "key"), Prisma.sql`r."apiKeyId"`),
  ]);
  const breakdown = async (by: "deployment" | "key", m: Map<string, Map<GuardrailRule, GuardrailCounts>>) => {
    const names = await rowNames(scope.orgId, by, [...m.keys()].filter((id) => id !== ""));
    const rows = [...m].map(([id, rules]) => ({ id, name: names(id), ...sumCounts(rules.values()), rules: ruleRows(rules) }));
    rows.sort((a, b) => b.failed - a.failed || b.checked - a.checked || a.name.localeCompare(b.name));
    return rows;
  };
  const rules = overall.get("") ?? emptyRuleCounts();
  const [byDeployment, byKey] = await Promise.all([breakdown("deployment", perDeployment), breakdown("key", perKey)]);
  return {
    period: w.period,
    from: w.from,
    to: w.to,
    bucket: w.bucket,
    totals: sumCounts(rules.values()),
    rules: ruleRows(rules),
    byDeployment,
    byKey,
    series: w.points.map((t) => {
      const c = sumCounts((perBucket.get(String(t.getTime())) ?? emptyRuleCounts()).values());
      return { t, checked: c.checked, flagged: c.flagged, redacted: c.redacted, blocked: c.blocked, errors: c.errors };
    }),
  };
}
