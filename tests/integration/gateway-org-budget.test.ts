/**
 * Prices that bite and an organisation's hard budget, on two gateway processes (two
 * `createGateway` instances, each with its own spool and its own leases) in front of a real
 * OpenAI-compatible upstream (tests/gateway-fixtures.ts: 7 prompt + 3 completion tokens a call).
 *
 * - Each call's usage record costs what the catalog model's per-token prices say, and a price
 *   changed by a platform admin reaches both processes.
 * - An organisation at 100 % of a hard budget is refused by both processes with 429
 *   `organization_budget_exceeded` and a message naming the budget; its spend stays within one
 *   call per process of the budget; raising the budget lets calls through again on both.
 * - GPU time counts: token cost plus GPU time past the budget is refused too. A soft budget never
 *   refuses; other organisations are not affected.
 * - The alerts of that month reach the organisation's webhook receiver, signed.
 */
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { createGateway, type Gateway } from "@/server/gateway/server";
import { evaluateBudgets, monthSpend } from "@/server/services/budgets";
import { startWebhookDelivery } from "@/workers/jobs/deliver-webhooks";
import { createApiKey } from "../deployment-fixtures";
import { postChat, registerDeployment, startFastUpstream, waitFor, type FakeUpstream } from "../gateway-fixtures";
import { callerFor, createTenant, createUser, type Tenant } from "../helpers";

let spoolRoot: string;
let upstream: FakeUpstream;
let a: Gateway;
let b: Gateway;
let platformAdminId: string;

// €500 per million prompt tokens, €1,000 per million completion tokens: 7 × 500 + 3 × 1,000 = 6,500 µ€ a call.
const CALL_COST = 6_500;

beforeAll(async () => {
  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-org-budget-"));
  upstream = await startFastUpstream();
  platformAdminId = (await createUser("platform-admin", { platformAdmin: true })).id;
  const gateway = (name: string) => createGateway({ databaseUrl: process.env.DATABASE_URL!, port: 0, spoolDir: path.join(spoolRoot, name), log: () => {} });
  [a, b] = [gateway("a"), gateway("b")];
  await Promise.all([a.listen(), b.listen()]);
});

afterAll(async () => {
  await Promise.all([a?.close(), b?.close()]);
  await upstream?.close();
  rmSync(spoolRoot, { recursive: true, force: true });
});

/** The tenant's catalog model priced through the admin procedure (console and REST use the same). */
async function priceModel(t: Tenant, inputEurPerMillionTokens: number, outputEurPerMillionTokens: number) {
  const m = await db.catalogModel.findUniqueOrThrow({ where: { id: t.model.id } });
  return callerFor(platformAdminId).admin.updateModel({
    modelId: m.id,
    slug: m.slug,
    family: m.family,
    name: m.name,
    version: m.version,
    parameterCount: String(m.parameterCount),
    contextLength: m.contextLength,
    license: m.license,
    openWeights: m.openWeights,
    openData: m.openData,
    origin: m.origin,
    artifactUri: m.artifactUri,
    artifactSha256: m.artifactSha256,
    runtime: m.runtime,
    gpuMemoryGb: m.gpuMemoryGb,
    minGpuCount: m.minGpuCount,
    fitsGpuTypeIds: [t.gpuType.id],
    inputEurPerMillionTokens,
    outputEurPerMillionTokens,
  });
}

/** A tenant with a running deployment on the upstream, priced, in a region whose GPU time is free (so costs are exact). */
async function pricedTenant(label: string) {
  const t = await createTenant(label);
  await priceModel(t, 500, 1000);
  await db.regionCapacity.updateMany({ where: { regionId: t.region.id }, data: { priceCentsPerGpuHour: 0 } });
  const deployment = await registerDeployment(t, [upstream.url]);
  const { key, row } = await createApiKey(t.org.id, t.ownerId);
  for (const g of [a, b]) await waitFor(() => g.state.route(t.org.id, deployment.name)?.tokenPrice.inputMicroEurPerMillionTokens === 500_000_000, 5000);
  return { t, deployment, key, keyId: row.id };
}

/** Runs the workers' evaluation (of every organisation) and answers how many alerts it raised for `orgId`. */
async function alertsRaisedFor(orgId: string) {
  const before = await db.budgetAlert.count({ where: { orgId } });
  await evaluateBudgets();
  return (await db.budgetAlert.count({ where: { orgId } })) - before;
}

/** Waits until both processes know the organisation's hard budget (the one-second poll). */
const seenByBoth = (orgId: string, cents: number | null) => Promise.all([a, b].map((g) => waitFor(() => (g.state.orgs.get(orgId)?.hardBudgetCents ?? null) === cents, 5000)));

/** The calls to a deployment that both processes have recorded, and their cost. */
const recordedCost = async (deploymentId: string) => {
  await Promise.all([a.spool.drain(5000), b.spool.drain(5000)]);
  const r = await db.usageRecord.aggregate({ where: { deploymentId }, _sum: { costMicroEur: true }, _count: true });
  return { calls: r._count, cost: r._sum.costMicroEur ?? 0 };
};

describe("per-token prices from the catalog", () => {
  it("give every call its real cost, on both processes, and a changed price reaches both", async () => {
    const { t, deployment, key } = await pricedTenant("priced");
    for (const g of [a, b]) expect((await postChat(g.url, key, deployment.name)).status).toBe(200);
    expect(await recordedCost(deployment.id)).toEqual({ calls: 2, cost: 2 * CALL_COST });

    // The admin changes the price: audit-logged, and both gateways charge it within about a second.
    await priceModel(t, 1000, 500);
    const audit = await db.auditEvent.findFirstOrThrow({ where: { chain: "platform", action: "catalog.model_updated", targetId: t.model.id }, orderBy: { seq: "desc" } });
    expect(audit.before).toMatchObject({ inputMicroEurPerMillionTokens: 500_000_000, outputMicroEurPerMillionTokens: 1_000_000_000 });
    expect(audit.after).toMatchObject({ inputMicroEurPerMillionTokens: 1_000_000_000, outputMicroEurPerMillionTokens: 500_000_000 });
    for (const g of [a, b]) await waitFor(() => g.state.route(t.org.id, deployment.name)?.tokenPrice.inputMicroEurPerMillionTokens === 1_000_000_000, 5000);
    for (const g of [a, b]) expect((await postChat(g.url, key, deployment.name)).status).toBe(200);
    // 7 × 1,000 + 3 × 500 = 8,500 µ€ a call now.
    expect(await recordedCost(deployment.id)).toEqual({ calls: 4, cost: 2 * CALL_COST + 2 * 8_500 });

    // A key's monthly budget now bites: 1 cent pays for 1.2 calls at 8,500 µ€; each process may overdraw it by one call, no more.
    const capped = await createApiKey(t.org.id, t.ownerId, { monthlyBudgetCents: 1 });
    const statuses: number[] = [];
    for (const g of [a, b, a, b]) statuses.push((await postChat(g.url, capped.key, deployment.name)).status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(2);
    expect(statuses.filter((s) => s === 200).length).toBeLessThanOrEqual(3);
    expect(statuses.at(-1)).toBe(429);

    // Tenants see the price where they choose a model.
    const listed = (await callerFor(t.ownerId).catalog.list()).find((m) => m.id === t.model.id);
    expect(listed).toMatchObject({ inputEurPerMillionTokens: 1000, outputEurPerMillionTokens: 500 });
  });
});

describe("an organisation's hard monthly budget", () => {
  let priced: Awaited<ReturnType<typeof pricedTenant>>;
  let receiver: { url: string; bodies: { body: string; signature: string }[]; close: () => Promise<void> };
  let secret: string;
  let stopDelivery: () => Promise<void>;

  beforeAll(async () => {
    priced = await pricedTenant("hard-budget");
    const bodies: { body: string; signature: string }[] = [];
    const server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        bodies.push({ body, signature: String(req.headers["enclave-signature"]) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    receiver = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/enclave`, bodies, close: () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))) };
    secret = (await callerFor(priced.t.ownerId).webhooks.set({ orgId: priced.t.org.id, url: receiver.url, enabled: true })).secret!;
    stopDelivery = await startWebhookDelivery({ connectionString: process.env.DATABASE_URL!, pollMs: 50, retryBaseMs: 100 });
  });
  afterAll(async () => {
    await stopDelivery?.();
    await receiver?.close();
  });

  it("is refused at 100 % by both processes with 429 organization_budget_exceeded, within one call per process of the budget", async () => {
    const { t, deployment, key } = priced;
    await callerFor(t.admin.user.id).budgets.set({ orgId: t.org.id, monthlyBudgetEur: 0.05, mode: "HARD", alertThresholds: [50, 80, 100] });
    await seenByBoth(t.org.id, 5);

    // Alternate between the processes until each has refused twice in a row.
    const results: { gateway: "a" | "b"; status: number; json: Awaited<ReturnType<typeof postChat>>["json"]; retryAfter: string | null }[] = [];
    const refusedTwice = (g: "a" | "b") => results.filter((r) => r.gateway === g).slice(-2).every((r) => r.status === 429) && results.filter((r) => r.gateway === g).length >= 2;
    for (let i = 0; i < 40 && !(refusedTwice("a") && refusedTwice("b")); i++) {
      const [name, g] = i % 2 === 0 ? (["a", a] as const) : (["b", b] as const);
      const r = await postChat(g.url, key, deployment.name);
      results.push({ gateway: name, status: r.status, json: r.json, retryAfter: r.headers.get("retry-after") });
    }
    expect(refusedTwice("a") && refusedTwice("b")).toBe(true);
    const statuses = results.map((r) => r.status);
    // Once a process refused, it keeps refusing: admitted calls come first.
    for (const g of ["a", "b"] as const) {
      const mine = results.filter((r) => r.gateway === g).map((r) => r.status);
      expect(mine.slice(mine.indexOf(429)).every((s) => s === 429)).toBe(true);
    }
    const refusal = results.find((r) => r.status === 429)!;
    expect(refusal.json.error).toEqual({
      type: "insufficient_quota",
      code: "organization_budget_exceeded",
      param: null,
      message: `The organisation “${t.org.name}” has used its hard monthly budget of €0.05 (token cost and GPU time this month, UTC). Calls are refused until next month, or until an owner or admin raises the budget or makes it soft in the Enclave console.`,
    });
    expect(Number(refusal.retryAfter)).toBeGreaterThan(0);

    // €0.05 at 6,500 µ€ a call (and the fixture's 42 µ€): the budget pays for 7.7 calls. Both
    // processes were refused only once all of it was leased; each may have overshot by one call.
    const admitted = statuses.filter((s) => s === 200).length;
    expect(admitted).toBeGreaterThanOrEqual(8);
    expect(admitted).toBeLessThanOrEqual(9);
    const { cost } = await recordedCost(deployment.id);
    expect(cost).toBe(admitted * CALL_COST);
    expect(cost + 42).toBeGreaterThanOrEqual(50_000);
    expect(cost + 42).toBeLessThanOrEqual(50_000 + 2 * CALL_COST);

    // The whole organisation is refused, whichever key it uses; another organisation is not.
    const otherKey = await createApiKey(t.org.id, t.ownerId);
    for (const g of [a, b]) expect((await postChat(g.url, otherKey.key, deployment.name)).json.error?.code).toBe("organization_budget_exceeded");
    const other = await pricedTenant("other-org");
    for (const g of [a, b]) expect((await postChat(g.url, other.key, other.deployment.name)).status).toBe(200);

    // The console and REST read the same verdict.
    expect(await callerFor(t.member.user.id).budgets.get({ orgId: t.org.id })).toMatchObject({ hardLimitReached: true, budget: { mode: "HARD", monthlyBudgetEur: 0.05 } });
  });

  it("sends this month's alerts to the organisation's webhook, signed, the last one saying calls are refused", async () => {
    const { t } = priced;
    expect(await alertsRaisedFor(t.org.id)).toBe(3);
    await waitFor(() => receiver.bodies.length === 3, 10_000);
    const events = receiver.bodies.map((r) => {
      const [, ts, v1] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(r.signature)!;
      expect(createHmac("sha256", secret).update(`${ts}.${r.body}`).digest("hex")).toBe(v1);
      return JSON.parse(r.body);
    });
    expect(events.map((e) => e.data.threshold).sort((x, y) => x - y)).toEqual([50, 80, 100]);
    expect(events.find((e) => e.data.threshold === 100)).toMatchObject({ type: "budget.threshold_crossed", organization: { id: t.org.id }, data: { budget: { amountEur: 0.05, mode: "hard" }, refusing: true } });
    const audit = await db.auditEvent.count({ where: { chain: t.org.id, action: "budget.threshold_crossed" } });
    expect(audit).toBe(3);
  });

  it("lets calls through again on both processes once the budget is raised", async () => {
    const { t, deployment, key } = priced;
    await callerFor(t.ownerId).budgets.set({ orgId: t.org.id, monthlyBudgetEur: 10, mode: "HARD", alertThresholds: [50, 80, 100] });
    await seenByBoth(t.org.id, 1000);
    for (const g of [a, b]) await waitFor(async () => (await postChat(g.url, key, deployment.name)).status === 200, 5000);
  });

  it("counts GPU time: token cost under the budget plus GPU time past it is refused", async () => {
    const t = await createTenant("gpu-budget");
    await priceModel(t, 500, 1000);
    const deployment = await registerDeployment(t, [upstream.url]);
    await db.regionCapacity.updateMany({ where: { regionId: t.region.id }, data: { priceCentsPerGpuHour: 0 } });
    const { key } = await createApiKey(t.org.id, t.ownerId);
    const month = new Date(Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), 1));
    const gpuSlice = (costMicroEur: bigint) => ({
      orgId: t.org.id,
      deploymentId: deployment.id,
      regionId: t.region.id,
      gpuTypeId: t.gpuType.id,
      gpuCount: 1,
      periodStart: new Date(Math.max(month.getTime(), Date.now() - 120_000)),
      periodEnd: new Date(),
      gpuSeconds: 60,
      costMicroEur,
    });
    // €0.05 of GPU time and €0.03 of calls: €0.08 of a €0.10 hard budget.
    await db.gpuUsage.create({ data: gpuSlice(50_000n) });
    await db.usageRecord.create({ data: { orgId: t.org.id, endpoint: "/v1/chat/completions", tokensIn: 1, tokensOut: 1, latencyMs: 1, status: 200, costMicroEur: 30_000 - 42 } });
    await callerFor(t.ownerId).budgets.set({ orgId: t.org.id, monthlyBudgetEur: 0.1, mode: "HARD", alertThresholds: [100] });
    await seenByBoth(t.org.id, 10);
    for (const g of [a, b]) await waitFor(() => g.state.route(t.org.id, deployment.name)?.tokenPrice.inputMicroEurPerMillionTokens === 500_000_000, 5000);
    expect((await postChat(a.url, key, deployment.name)).status).toBe(200);

    // Another €0.05 of GPU time is metered: past the budget, with no more calls made.
    await db.gpuUsage.create({ data: gpuSlice(50_000n) });
    await evaluateBudgets();
    for (const g of [a, b]) await waitFor(async () => (await postChat(g.url, key, deployment.name)).json.error?.code === "organization_budget_exceeded", 5000);
    const spend = (await monthSpend([t.org.id])).get(t.org.id)!;
    expect(spend.gpuMicroEur).toBe(100_000n);
  });

  it("counts the GPU time of replicas running now, not metered yet", async () => {
    const t = await createTenant("gpu-accruing");
    const deployment = await registerDeployment(t, [upstream.url]);
    // One GPU at €36 an hour (10,000 µ€ a second), ready for 100 s and never metered: €1 so far.
    await db.regionCapacity.updateMany({ where: { regionId: t.region.id }, data: { priceCentsPerGpuHour: 3600 } });
    const now = new Date();
    await db.deploymentReplica.updateMany({ where: { deploymentId: deployment.id }, data: { readyAt: new Date(now.getTime() - 100_000), meteredUntil: null } });
    expect((await monthSpend([t.org.id], now)).get(t.org.id)!.gpuMicroEur).toBe(BigInt(Math.min(100, Math.floor((now.getTime() - Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1)) / 1000)) * 10_000));
  });

  it("is never refused when soft, whatever the spend", async () => {
    const { t, deployment, key } = await pricedTenant("soft-budget");
    await db.usageRecord.create({ data: { orgId: t.org.id, endpoint: "/v1/chat/completions", tokensIn: 1, tokensOut: 1, latencyMs: 1, status: 200, costMicroEur: 5_000_000 } });
    await callerFor(t.ownerId).budgets.set({ orgId: t.org.id, monthlyBudgetEur: 0.01, mode: "SOFT", alertThresholds: [100] });
    // The gateways know no hard budget for it: give them the poll's second, then call.
    await new Promise((r) => setTimeout(r, 1500));
    for (const g of [a, b]) {
      expect(g.state.orgs.get(t.org.id)?.hardBudgetCents).toBeNull();
      expect((await postChat(g.url, key, deployment.name)).status).toBe(200);
    }
    expect(await callerFor(t.ownerId).budgets.get({ orgId: t.org.id })).toMatchObject({ hardLimitReached: false, percentUsed: expect.any(Number) });
  });
});
