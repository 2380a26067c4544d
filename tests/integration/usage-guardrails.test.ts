/**
 * The guardrail dashboards' read model (server/services/usage.ts `usageGuardrails`, `usage.guardrails`
 * over tRPC and REST) against a real PostgreSQL: raw UsageRecord rows carrying verdict codes
 * (outcomeCode, server/guardrails/types.ts) are inserted, the real roll-up folds them, and every
 * count — per rule and outcome, per deployment, per key, per bucket of the whole period, for the
 * organisation and for one deployment — is checked against what the raw rows say, computed here
 * from the rows themselves. Rows without verdicts (written before they were recorded), and another
 * organisation's, count nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { decodeOutcome, GUARDRAIL_OUTCOMES, GUARDRAIL_RULE_NAMES, outcomeCode, type GuardrailOutcome, type GuardrailRule } from "@/server/guardrails/types";
import { usageGuardrails, type UsagePeriod } from "@/server/services/usage";
import { rollUpUsage } from "@/server/services/usage-rollup";
import { callerFor, createTenant, outcome, unique, type Tenant } from "../helpers";
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
const now = Date.now();

/** The window of a period, computed here independently of the service. */
const windowOf = (period: UsagePeriod) => {
  const { step, points } = SPEC[period];
  const last = Math.floor(now / step) * step;
  return { step, from: last - (points - 1) * step, end: last + step };
};

/** A small deterministic generator (mulberry32): a failure replays the same rows. */
function random(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Raw {
  createdAt: Date;
  deploymentId: string | null;
  apiKeyId: string | null;
  guardrails: number[] | null;
}

let a: Tenant;
let b: Tenant;
let depB: { id: string; name: string };
let keyB: { id: string; name: string };
let raw: Raw[];

const FIELD: Record<GuardrailOutcome, "passed" | "flagged" | "redacted" | "blocked" | "errors"> = { pass: "passed", flagged: "flagged", redacted: "redacted", blocked: "blocked", error: "errors" };
type Counts = Record<"checked" | "passed" | "flagged" | "redacted" | "blocked" | "errors" | "failed", number>;
const zero = (): Counts => ({ checked: 0, passed: 0, flagged: 0, redacted: 0, blocked: 0, errors: 0, failed: 0 });

/** What the rows say, per rule: each verdict code decoded here, unknown codes skipped. */
function countsOf(rows: Raw[]) {
  const rules = new Map<GuardrailRule, Counts>(GUARDRAIL_RULE_NAMES.map((r) => [r, zero()]));
  for (const r of rows)
    for (const code of r.guardrails ?? []) {
      const d = decodeOutcome(code);
      if (!d) continue;
      const c = rules.get(d.rule)!;
      c.checked++;
      c[FIELD[d.outcome]]++;
      if (d.outcome === "flagged" || d.outcome === "redacted" || d.outcome === "blocked") c.failed++;
    }
  const total = zero();
  for (const c of rules.values()) for (const k of Object.keys(total) as (keyof Counts)[]) total[k] += c[k];
  return { rules, total };
}

const ruleRows = (rules: Map<GuardrailRule, Counts>) => GUARDRAIL_RULE_NAMES.map((rule) => ({ rule, check: rule.split(".")[0], stage: rule.split(".")[1], ...rules.get(rule)! }));
const inWindow = (period: UsagePeriod, rows = raw) => {
  const w = windowOf(period);
  return rows.filter((r) => r.createdAt.getTime() >= w.from && r.createdAt.getTime() < w.end);
};
const hasVerdicts = (rows: Raw[]) => rows.some((r) => (r.guardrails ?? []).some((c) => decodeOutcome(c) !== null));

beforeAll(async () => {
  a = await createTenant("guardrail-usage-a");
  b = await createTenant("guardrail-usage-b");
  depB = await db.deployment.create({
    data: { orgId: a.org.id, name: unique("dep-2"), catalogModelId: a.model.id, regionId: a.region.id, gpuTypeId: a.gpuType.id, gpusPerReplica: 1, dataClassification: "INTERNAL", createdById: a.ownerId },
  });
  keyB = await db.apiKey.create({ data: { orgId: a.org.id, name: "second key", prefix: unique("enc_g"), secretHash: "x", scopes: ["inference"], createdById: a.ownerId } });
  const r = random(12);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const rows: Raw[] = [];
  // 600 records over 100 days; most with one to four verdicts, some without (before verdicts were
  // recorded, or no rule on), a few with a code no version knows (skipped by the reader).
  for (let i = 0; i < 600; i++) {
    const age = i < 300 ? r() * DAY : i < 450 ? r() * 7 * DAY : r() * 100 * DAY;
    const kind = r();
    const guardrails =
      kind < 0.1
        ? null
        : kind < 0.15
          ? []
          : [
              ...Array.from({ length: 1 + Math.floor(r() * 4) }, () => outcomeCode(pick(GUARDRAIL_RULE_NAMES), pick(GUARDRAIL_OUTCOMES))),
              ...(kind > 0.98 ? [7, 200] : []),
            ];
    rows.push({ createdAt: new Date(now - age), deploymentId: pick([a.deployment.id, depB.id, null]), apiKeyId: pick([a.apiKey.id, keyB.id, null]), guardrails });
  }
  await db.usageRecord.createMany({
    data: rows.map((x) => ({ ...x, guardrails: x.guardrails ?? undefined, orgId: a.org.id, endpoint: "/v1/chat/completions", tokensIn: 1, tokensOut: 1, latencyMs: 5, status: 200, costMicroEur: 1 })),
  });
  // B's verdicts in the same hours: none may show in A's figures.
  await db.usageRecord.createMany({
    data: Array.from({ length: 50 }, (_, i) => ({
      createdAt: new Date(now - i * HOUR),
      orgId: b.org.id,
      apiKeyId: b.apiKey.id,
      deploymentId: b.deployment.id,
      endpoint: "/v1/chat/completions",
      tokensIn: 1,
      tokensOut: 1,
      latencyMs: 5,
      status: 400,
      costMicroEur: 1,
      guardrails: [outcomeCode("pii.input", "blocked"), outcomeCode("pii.input", "blocked")],
    })),
  });
  await rollUpUsage();
  raw = await db.usageRecord.findMany({ where: { orgId: a.org.id }, select: { createdAt: true, deploymentId: true, apiKeyId: true, guardrails: true } });
  expect(raw.filter((x) => !x.guardrails?.length).length).toBeGreaterThan(0);
});

describe("guardrail verdicts of an organisation", () => {
  for (const period of PERIODS) {
    it(`${period}: per rule and outcome, over the period, as the raw rows say`, async () => {
      const g = await usageGuardrails({ orgId: a.org.id, period, now: new Date(now) });
      const rows = inWindow(period);
      expect(hasVerdicts(rows)).toBe(true);
      const expected = countsOf(rows);
      expect(g.rules).toEqual(ruleRows(expected.rules));
      expect(g.totals).toEqual(expected.total);
      expect(g.totals.failed).toBe(g.totals.flagged + g.totals.redacted + g.totals.blocked);
      expect(g.totals.checked).toBe(g.totals.passed + g.totals.failed + g.totals.errors);
    });

    it(`${period}: one point per bucket of the whole period, zero-filled`, async () => {
      const g = await usageGuardrails({ orgId: a.org.id, period, now: new Date(now) });
      const w = windowOf(period);
      expect(g.bucket).toBe(w.step === HOUR ? "hour" : "day");
      expect(g.series.map((p) => p.t.getTime())).toEqual(Array.from({ length: SPEC[period].points }, (_, i) => w.from + i * w.step));
      const rows = inWindow(period);
      for (const p of g.series) {
        const { total } = countsOf(rows.filter((r) => Math.floor(r.createdAt.getTime() / w.step) * w.step === p.t.getTime()));
        expect(p).toEqual({ t: p.t, checked: total.checked, flagged: total.flagged, redacted: total.redacted, blocked: total.blocked, errors: total.errors });
      }
    });

    it(`${period}: per deployment and per key, named, most failures first`, async () => {
      const g = await usageGuardrails({ orgId: a.org.id, period, now: new Date(now) });
      const rows = inWindow(period);
      for (const [by, list, id, names] of [
        ["deployment", g.byDeployment, (r: Raw) => r.deploymentId ?? "", { [a.deployment.id]: a.deployment.name, [depB.id]: depB.name, "": "No deployment" }],
        ["key", g.byKey, (r: Raw) => r.apiKeyId ?? "", { [a.apiKey.id]: a.apiKey.name, [keyB.id]: keyB.name, "": "No key" }],
      ] as const) {
        const ids = [...new Set(rows.filter((r) => hasVerdicts([r])).map(id))];
        expect(list.map((x) => x.id).sort(), by).toEqual(ids.sort());
        for (const row of list) {
          const expected = countsOf(rows.filter((r) => id(r) === row.id));
          expect(row, `${by} ${row.id}`).toEqual({ id: row.id, name: names[row.id], ...expected.total, rules: ruleRows(expected.rules) });
        }
        for (let i = 1; i < list.length; i++) expect(list[i - 1].failed).toBeGreaterThanOrEqual(list[i].failed);
      }
    });
  }

  it("for one deployment (its page): its verdicts only, split by key", async () => {
    const g = await usageGuardrails({ orgId: a.org.id, period: "7d", deploymentId: depB.id, now: new Date(now) });
    const rows = inWindow("7d").filter((r) => r.deploymentId === depB.id);
    expect(g.totals).toEqual(countsOf(rows).total);
    expect(g.byDeployment.map((d) => d.id)).toEqual([depB.id]);
    for (const k of g.byKey) expect(k, k.id).toMatchObject(countsOf(rows.filter((r) => (r.apiKeyId ?? "") === k.id)).total);
    expect(g.byKey.reduce((n, k) => n + k.checked, 0)).toBe(g.totals.checked);
    // Another organisation's deployment is not found.
    expect(await outcome(() => callerFor(a.ownerId).usage.guardrails({ orgId: a.org.id, period: "7d", deploymentId: b.deployment.id }))).toBe("NOT_FOUND");
  });

  it("another organisation's verdicts stay its own; one without verdicts reads zeros", async () => {
    const gb = await usageGuardrails({ orgId: b.org.id, period: "24h", now: new Date(now) });
    const blockedB = gb.rules.find((r) => r.rule === "pii.input")!;
    const w = windowOf("24h");
    const bRows = Array.from({ length: 50 }, (_, i) => now - i * HOUR).filter((t) => t >= w.from && t < w.end).length;
    expect(blockedB.blocked).toBe(2 * bRows);
    expect(gb.totals).toEqual({ ...zero(), checked: 2 * bRows, blocked: 2 * bRows, failed: 2 * bRows });
    const empty = await createTenant("guardrail-usage-empty");
    const g = await usageGuardrails({ orgId: empty.org.id, period: "30d", now: new Date(now) });
    expect(g.totals.checked).toBe(0);
    expect(g.rules.map((r) => r.rule)).toEqual(GUARDRAIL_RULE_NAMES);
    expect(g.byDeployment).toEqual([]);
    expect(g.series).toHaveLength(30);
  });

  it("follows deletes of raw rows through the roll-up", async () => {
    const c = await createTenant("guardrail-usage-delete");
    const at = new Date(Math.floor(now / HOUR) * HOUR - 2 * HOUR);
    const code = outcomeCode("schema.output", "flagged");
    await db.usageRecord.createMany({
      data: Array.from({ length: 6 }, (_, i) => ({ createdAt: new Date(at.getTime() + i), orgId: c.org.id, deploymentId: c.deployment.id, apiKeyId: c.apiKey.id, endpoint: "/v1/chat/completions", tokensIn: 1, tokensOut: 1, latencyMs: 1, status: 200, costMicroEur: 0, guardrails: [code] })),
    });
    await rollUpUsage();
    expect((await usageGuardrails({ orgId: c.org.id, period: "24h" })).rules[0].flagged).toBe(6);
    await db.usageRecord.deleteMany({ where: { orgId: c.org.id, createdAt: { gte: at, lt: new Date(at.getTime() + 3) } } });
    await rollUpUsage();
    const after = await usageGuardrails({ orgId: c.org.id, period: "24h" });
    expect(after.rules[0]).toMatchObject({ rule: "schema.output", checked: 3, flagged: 3, failed: 3 });
  });
});

describe("over REST, the same figures", () => {
  let server: RestServer;
  beforeAll(async () => {
    server = await startRestServer();
  });
  afterAll(() => server.close());

  it("GET /orgs/{org}/usage/guardrails with a read key", async () => {
    const { key } = await issueKey(a.org.id, a.ownerId, ["read"], "compliance");
    const viaTrpc = await callerFor(a.ownerId).usage.guardrails({ orgId: a.org.id, period: "30d" });
    const res = await call(server, "GET", `/orgs/${a.org.slug}/usage/guardrails?period=30d`, { auth: key });
    expect(res.status).toBe(200);
    expect(res.body.rules).toEqual(viaTrpc.rules);
    expect(res.body.totals).toEqual(viaTrpc.totals);
    expect(res.body.series).toHaveLength(30);
    expect(res.body.series[29].t).toBe(viaTrpc.series[29].t.toISOString());
    const one = await call(server, "GET", `/orgs/${a.org.slug}/usage/guardrails?period=24h&deploymentId=${a.deployment.id}`, { auth: key });
    expect(one.status).toBe(200);
    expect(one.body.byDeployment.map((d: { id: string }) => d.id)).toEqual([a.deployment.id]);
    const bad = await call(server, "GET", `/orgs/${a.org.slug}/usage/guardrails?period=1y`, { auth: key });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/period must be one of 24h, 7d, 30d, 90d/);
  });
});
