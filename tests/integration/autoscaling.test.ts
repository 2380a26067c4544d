/**
 * Autoscaling and scale to zero (docs/autoscaling.md) with real parts: the tiny model served by
 * model-server processes of the local driver, a real gateway (createGateway, real HTTP) writing the
 * load signal, the autoscaler loop (workers/jobs/autoscale.ts) with its LISTEN, reconcile passes as
 * the workers run them, a real PostgreSQL. Windows and timeouts are short through the policy.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { createGateway, type Gateway } from "@/server/gateway/server";
import type { TraceRecord } from "@/server/gateway/trace";
import { reconcileDeployment } from "@/workers/reconcile/deployment";
import { autoscaleDeployment, startAutoscaler, type AutoscaleResult } from "@/workers/jobs/autoscale";
import { createApiKey, localDeploymentFixture, reconcileUntil } from "../deployment-fixtures";
import { waitFor } from "../gateway-fixtures";
import { callerFor, unique } from "../helpers";

let f: Awaited<ReturnType<typeof localDeploymentFixture>>;
let gateway: Gateway;
let spoolRoot: string;
let orgId: string;
let key: string;
let stopAutoscaler: (() => Promise<void>) | null = null;
let reconciling = true;
const reconciled = new Set<string>();
const seen: TraceRecord[] = [];
const quiet = () => {};

const policy = (deploymentId: string, overrides: Record<string, unknown> = {}) => ({
  orgId,
  deploymentId,
  enabled: true,
  minReplicas: 0,
  maxReplicas: 2,
  targetInFlight: 1,
  scaleUpWindowSeconds: 0,
  scaleDownWindowSeconds: 0,
  idleTimeoutSeconds: 2,
  ...overrides,
});

async function deploy(name: string, replicas = 1, maxReplicas = 1) {
  return callerFor(f.tenant.ownerId).deployments.create({ orgId, name, catalogModelId: f.model.id, regionId: f.region.id, gpuTypeId: f.slot.id, replicas, minReplicas: 1, maxReplicas, dataClassification: "INTERNAL" });
}

/** Reconcile passes for `ids`, as the workers' queue would run them, until the test ends. */
async function reconcileLoop() {
  while (reconciling) {
    for (const id of reconciled) await reconcileDeployment(id, { driver: f.driver }).catch(() => {});
    await new Promise((r) => setTimeout(r, 150));
  }
}

const chat = (model: string, maxTokens = 24) => ({ model, messages: [{ role: "user", content: "Raconte une longue histoire" }], max_tokens: maxTokens });

async function call(model: string, headers: Record<string, string> = {}, maxTokens = 24) {
  const res = await fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers }, body: JSON.stringify(chat(model, maxTokens)) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> & { error?: { code: string | null; message: string; type: string } }, retryAfter: res.headers.get("retry-after"), traceparent: res.headers.get("traceparent") };
}

/** Deletes a deployment and runs its reconcile passes until its GPUs are released (phase DELETED). */
async function remove(deploymentId: string) {
  reconciled.delete(deploymentId);
  await callerFor(f.tenant.ownerId).deployments.delete({ orgId, deploymentId });
  await reconcileUntil(deploymentId, f.driver, (_r, phase) => phase === "DELETED", 60_000);
}

const deployment = (id: string) => db.deployment.findUniqueOrThrow({ where: { id }, select: { replicas: true, reservedGpus: true, phase: true, desiredState: true } });
const events = (id: string, reason: string) => db.deploymentEvent.findMany({ where: { deploymentId: id, reason }, orderBy: { createdAt: "asc" } });
const quota = () => db.quota.findFirstOrThrow({ where: { orgId, regionId: f.region.id, gpuTypeId: f.slot.id } });

beforeAll(async () => {
  f = await localDeploymentFixture({ quota: 4, capacity: 4 });
  orgId = f.tenant.org.id;
  key = (await createApiKey(orgId, f.tenant.ownerId)).key;
  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-autoscaling-"));
  gateway = createGateway({ databaseUrl: process.env.DATABASE_URL!, port: 0, spoolDir: path.join(spoolRoot, "gw"), batchMs: 50, loadSignalMs: 200,
    // The periodic reload of the scale-to-zero set never runs during the test: a deployment taken to
    // zero seconds after its policy's change to min 0 is held because the gateway reloads the set
    // when a request finds it at zero (ColdStart.refreshSoon), which these tests then prove.
    coldStart: { refreshMs: 600_000 },
    onTrace: (t) => seen.push(t), log: quiet });
  await gateway.listen();
  stopAutoscaler = await startAutoscaler({ connectionString: process.env.DATABASE_URL!, intervalMs: 200 });
  void reconcileLoop();
});

afterAll(async () => {
  reconciling = false;
  await stopAutoscaler?.();
  await gateway?.close();
  for (const s of f.driver.recorded()) await f.driver.delete(s.replicaId);
  rmSync(f.stateDir, { recursive: true, force: true });
  rmSync(spoolRoot, { recursive: true, force: true });
});

describe("the policy", () => {
  it("is validated with precise errors, audited, and an event of the deployment", async () => {
    const d = await deploy(unique("policy"));
    const caller = callerFor(f.tenant.ownerId);
    await expect(caller.deployments.setAutoscaling(policy(d.id, { maxReplicas: 5 }))).rejects.toThrow(/Maximum replicas 5 would need 5 .* GPU\(s\) in .*; the organisation's quota there is 4, enough for at most 4 replica\(s\)/);
    await expect(caller.deployments.setAutoscaling(policy(d.id, { minReplicas: 3, maxReplicas: 2 }))).rejects.toThrow(/Minimum replicas cannot exceed the maximum/);
    await expect(caller.deployments.setAutoscaling(policy(d.id, { scaleDownWindowSeconds: 4000 }))).rejects.toThrow(/Scale-down window must be at most 3600 s/);
    await expect(caller.deployments.setAutoscaling(policy(d.id, { targetInFlight: 0 }))).rejects.toThrow(/Target in-flight requests per replica must be at least 0.5/);
    expect(await db.autoscalingPolicy.findUnique({ where: { deploymentId: d.id } })).toBeNull();

    await caller.deployments.setAutoscaling(policy(d.id, { enabled: false, minReplicas: 1, maxReplicas: 3, targetInFlight: 6 }));
    const view = await caller.deployments.autoscaling({ orgId, deploymentId: d.id, hours: 1 });
    expect(view).toMatchObject({ minReplicas: 1, maxReplicas: 3, policy: { enabled: false, targetInFlight: 6 } });
    const audit = await db.auditEvent.findFirstOrThrow({ where: { orgId, action: "deployment.autoscaling_updated", targetId: d.id } });
    expect(audit.after).toMatchObject({ minReplicas: 1, maxReplicas: 3, targetInFlight: 6, enabled: false });
    expect((await events(d.id, "AutoscalingPolicy"))[0].message).toMatch(/Autoscaling off; manual scaling within 1–3/);
    await remove(d.id);
  });
});

describe("with real model servers", () => {
  let id: string;
  let name: string;

  beforeAll(async () => {
    name = unique("elastic");
    id = (await deploy(name)).id;
    reconciled.add(id);
    // Min 1 first: with min 0 the 2 s idle timeout could take it to zero before its first replica is ready.
    await callerFor(f.tenant.ownerId).deployments.setAutoscaling(policy(id, { minReplicas: 1 }));
    await waitFor(() => gateway.state.route(orgId, name)?.replicas.length === 1, 60_000, 100);
  }, 90_000);
  afterAll(() => remove(id), 60_000);

  it("a load raises the replicas up to max, with the signal in the decision", async () => {
    let loading = true;
    let answered = 0;
    const worker = async () => {
      while (loading) if ((await call(name)).status === 200) answered++;
    };
    const workers = Array.from({ length: 6 }, worker);
    await waitFor(async () => (await deployment(id)).replicas === 2, 30_000, 100);
    await waitFor(() => (gateway.state.route(orgId, name)?.replicas.length ?? 0) === 2, 60_000, 100);
    loading = false;
    await Promise.all(workers);
    expect(answered).toBeGreaterThan(0);
    const up = await events(id, "ScaledUp");
    expect(up[0].message).toMatch(/^Scaled 1 → 2: [\d.]+ in flight per replica, target 1$/);
    // Never past max, whatever the load (6 in flight with a target of 1 asks for 6).
    expect((await db.autoscaleSample.aggregate({ where: { deploymentId: id }, _max: { replicas: true } }))._max.replicas).toBe(2);
    expect(await deployment(id)).toMatchObject({ replicas: 2, reservedGpus: 2 });
    const samples = await db.autoscaleSample.findMany({ where: { deploymentId: id, inFlight: { gt: 1 } } });
    expect(samples.length).toBeGreaterThan(0);
  }, 120_000);

  it("idle, it comes down to min one replica, then with min 0 to zero after the idle timeout, and releases the GPUs", async () => {
    await waitFor(async () => (await deployment(id)).replicas === 1, 30_000, 100);
    expect((await events(id, "ScaledDown")).map((e) => e.message)).toEqual([expect.stringMatching(/^Scaled 2 → 1: [\d.]+ in flight per replica, target 1$/)]);
    await callerFor(f.tenant.ownerId).deployments.setAutoscaling(policy(id));
    await waitFor(async () => (await deployment(id)).replicas === 0, 30_000, 100);
    const down = (await events(id, "ScaledDown")).map((e) => e.message);
    expect(down[1]).toMatch(/^Scaled 1 → 0: idle for \d+ s \(idle timeout 2 s\)$/);
    await waitFor(async () => (await deployment(id)).phase === "STOPPED", 30_000, 100);
    expect(await deployment(id)).toMatchObject({ replicas: 0, reservedGpus: 0, desiredState: "RUNNING" });
    expect((await quota()).allocatedGpus).toBe(0);
    await waitFor(() => gateway.state.route(orgId, name)?.replicas.length === 0, 10_000, 50);
  }, 60_000);

  it("a request sent at zero is held, answered after a cold start, and its trace shows the wait", async () => {
    seen.length = 0;
    const answer = await call(name, {}, 4);
    expect(answer.status, JSON.stringify(answer.json)).toBe(200);
    expect((answer.json.choices as unknown[]).length).toBe(1);
    const up = await events(id, "ScaledUp");
    expect(up.at(-1)!.message).toMatch(/^Scaled 0 → 1: 1 request\(s\) held at zero replicas/);
    const spanId = answer.traceparent!.split("-")[2];
    await waitFor(() => seen.some((t) => t.spanId === spanId), 5000);
    const trace = seen.find((t) => t.spanId === spanId)!;
    const wait = trace.spans.find((s) => s.name === "cold_start")!;
    expect(wait).toMatchObject({ status: "ok", attributes: { "enclave.cold_start.outcome": "served", "enclave.deployment.id": id } });
    // The wait covers starting a model server: far more than the route lookup around it.
    const upstream = trace.spans.find((s) => s.name === "upstream")!;
    expect(wait.startMs + wait.durationMs).toBeLessThanOrEqual(upstream.startMs + 0.001);
    expect(wait.durationMs).toBeGreaterThan(0);
  }, 90_000);

  it("a route whose only compliant member is at zero wakes it: the call by the route's name is answered after the cold start", async () => {
    // Back to zero after the policy's 2 s idle timeout.
    await waitFor(async () => (await deployment(id)).replicas === 0, 30_000, 100);
    await waitFor(() => gateway.state.route(orgId, name)?.replicas.length === 0, 30_000, 50);
    const routeName = unique("elastic-route");
    await callerFor(f.tenant.ownerId).modelRoutes.create({ orgId, name: routeName, mode: "PRIORITY", dataClassification: "INTERNAL", maxInFlightPerReplica: 2, members: [{ deploymentId: id, weight: 1 }] });
    await waitFor(() => gateway.state.modelRoutes.get(orgId, routeName) !== undefined, 5000, 50);
    seen.length = 0;
    const answer = await call(routeName, {}, 4);
    expect(answer.status, JSON.stringify(answer.json)).toBe(200);
    expect((await events(id, "ScaledUp")).at(-1)!.message).toMatch(/^Scaled 0 → 1: 1 request\(s\) held at zero replicas/);
    const spanId = answer.traceparent!.split("-")[2];
    await waitFor(() => seen.some((t) => t.spanId === spanId), 5000);
    const trace = seen.find((t) => t.spanId === spanId)!;
    expect(trace.deploymentId).toBe(id);
    const routed = trace.spans.find((s) => s.name === "model_route")!;
    expect(routed.attributes["enclave.model_route.reason"]).toBe(`no compliant member has a replica up: waking ${name} from zero (cold start)`);
    expect(routed.attributes["enclave.model_route.candidates"]).toEqual([expect.stringMatching(/: allowed, scaled to zero by its autoscaling$/)]);
    const wait = trace.spans.find((s) => s.name === "cold_start")!;
    expect(wait).toMatchObject({ status: "ok", attributes: { "enclave.cold_start.outcome": "served", "enclave.deployment.id": id } });
    expect(routed.startMs).toBeLessThanOrEqual(wait.startMs);
  }, 90_000);
});

describe("when a replica cannot start", () => {
  it("held requests beyond the queue get 503 with Retry-After, a timeout an OpenAI-shaped error, and the refusal is an event", async () => {
    const name = unique("starved");
    const d = await deploy(name);
    await callerFor(f.tenant.ownerId).deployments.setAutoscaling(policy(d.id, { maxReplicas: 1 }));
    // Idle, the autoscaler takes it to zero (GPUs released); then others take the quota: the scale-up will be refused.
    await waitFor(async () => (await deployment(d.id)).replicas === 0, 20_000, 100);
    const q = await quota();
    await db.quota.update({ where: { id: q.id }, data: { allocatedGpus: q.limitGpus } });
    const small = createGateway({ databaseUrl: process.env.DATABASE_URL!, port: 0, spoolDir: path.join(spoolRoot, "small"), batchMs: 50, loadSignalMs: 200, coldStart: { maxQueue: 1 }, log: quiet });
    await small.listen();
    try {
      await waitFor(() => small.state.route(orgId, name) !== undefined, 5000);
      const post = (headers: Record<string, string>) =>
        fetch(`${small.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}`, ...headers }, body: JSON.stringify(chat(name, 2)) });
      const held = post({ "x-enclave-cold-start-timeout": "2" });
      await waitFor(async () => (await db.gatewayLoad.findFirst({ where: { deploymentId: d.id, queued: 1 } })) !== null, 5000);
      const beyond = await post({});
      expect(beyond.status).toBe(503);
      expect(beyond.headers.get("retry-after")).toBe("5");
      expect(await beyond.json()).toMatchObject({ error: { type: "server_error", code: "cold_start_queue_full" } });
      const timedOut = await held;
      expect(timedOut.status).toBe(503);
      expect(timedOut.headers.get("retry-after")).toBe("5");
      const body = (await timedOut.json()) as { error: { message: string; code: string } };
      expect(body.error).toMatchObject({ code: "cold_start_timeout", type: "server_error", param: null });
      expect(body.error.message).toMatch(/no replica was ready after 2 s of cold start/);
      const bad = await post({ "x-enclave-cold-start-timeout": "forever" });
      expect(bad.status).toBe(400);
      const refused = await events(d.id, "ScaleUpRefused");
      expect(refused).toHaveLength(1);
      expect(refused[0].message).toMatch(/^Scale 0 → 1 refused \(1 request\(s\) held at zero replicas.*\): Quota exceeded: 1 requested, 0 of 4 .* free in .*; still serving with 0 replica\(s\)$/);
      expect((await deployment(d.id)).replicas).toBe(0);
    } finally {
      await small.close();
      await db.quota.update({ where: { id: q.id }, data: { allocatedGpus: q.allocatedGpus } });
      await remove(d.id);
    }
  }, 60_000);
});

describe("decisions under the lease", () => {
  // These passes are the test's own: the background loop would be one more (lease-abiding) competitor.
  beforeAll(async () => {
    await stopAutoscaler?.();
    stopAutoscaler = null;
  });
  /** A gateway's load row as the data plane writes it (the signal the decision reads). */
  const loadOf = (deploymentId: string, inFlight: number) =>
    db.gatewayLoad.upsert({ where: { gatewayId_deploymentId: { gatewayId: "race-gw", deploymentId } }, create: { gatewayId: "race-gw", deploymentId, inFlight, queued: 0, requests: 1 }, update: { inFlight, updatedAt: new Date() } });

  it("two workers never double-scale one deployment", async () => {
    const d = await deploy(unique("race"));
    await callerFor(f.tenant.ownerId).deployments.setAutoscaling(policy(d.id, { minReplicas: 1, maxReplicas: 3 }));
    const before = (await quota()).allocatedGpus;
    await loadOf(d.id, 9);
    const results: AutoscaleResult[] = await Promise.all(Array.from({ length: 5 }, (_, i) => autoscaleDeployment(d.id, { owner: `race-worker-${i}` })));
    const scaled = results.filter((r) => r.status === "scaled");
    expect(scaled).toHaveLength(1);
    expect(scaled[0]).toMatchObject({ from: 1, to: 3 });
    expect(results.every((r) => r.status === "scaled" || r.status === "busy" || r.status === "steady")).toBe(true);
    expect(await events(d.id, "ScaledUp")).toHaveLength(1);
    expect(await deployment(d.id)).toMatchObject({ replicas: 3, reservedGpus: 3 });
    expect((await quota()).allocatedGpus).toBe(before + 2);
    await db.gatewayLoad.deleteMany({ where: { deploymentId: d.id } });
    await callerFor(f.tenant.ownerId).deployments.scale({ orgId, deploymentId: d.id, replicas: 1 });
    await remove(d.id);
  });

  it("concurrent scale-ups of several deployments in one organisation never over-allocate the quota", async () => {
    const q0 = await quota();
    const free = q0.limitGpus - q0.allocatedGpus;
    const ds = await Promise.all(Array.from({ length: 3 }, () => deploy(unique("crowd"))));
    const used = (await quota()).allocatedGpus;
    for (const d of ds) {
      await callerFor(f.tenant.ownerId).deployments.setAutoscaling(policy(d.id, { minReplicas: 1, maxReplicas: 4 }));
      await loadOf(d.id, 8);
    }
    const results = await Promise.all(ds.map((d, i) => autoscaleDeployment(d.id, { owner: `crowd-worker-${i}` })));
    const q = await quota();
    expect(q.allocatedGpus).toBeLessThanOrEqual(q.limitGpus);
    expect(q.allocatedGpus).toBe(q.limitGpus);
    const reserved = await db.deployment.findMany({ where: { id: { in: ds.map((d) => d.id) } }, select: { reservedGpus: true, replicas: true } });
    expect(reserved.reduce((n, d) => n + d.reservedGpus, 0)).toBe(3 + (q.allocatedGpus - used));
    for (const d of reserved) expect(d.reservedGpus).toBe(d.replicas);
    expect(free).toBeGreaterThanOrEqual(3);
    // What the quota could not hold is refused with the reason; those deployments keep their replica.
    const refused = results.filter((r) => r.status === "refused");
    for (const r of refused) expect(r).toMatchObject({ replicas: 1, reason: expect.stringMatching(/^Quota exceeded/) });
    expect(results.some((r) => r.status === "scaled")).toBe(true);
    for (const d of ds) {
      await db.gatewayLoad.deleteMany({ where: { deploymentId: d.id } });
      await remove(d.id);
    }
  });
});
