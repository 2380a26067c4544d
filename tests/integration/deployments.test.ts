/**
 * Deployments, end to end on real parts: the tenant's desired state through tRPC, the reconcile
 * loop, the local driver starting real model-server processes, and real HTTP to their endpoints.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { verifyAuditChain } from "@/server/services/audit";
import { collectOrphans } from "@/workers/jobs/collect-orphans";
import { meterGpuHours } from "@/workers/jobs/meter-gpu-hours";
import { acquireLease, reconcileDeployment, releaseLease } from "@/workers/reconcile/deployment";
import type { ClusterDriver, ReplicaSpec } from "@/workers/drivers/types";
import { replicaAuthorization } from "@/workers/model-server/replica-auth";
import { localDeploymentFixture, reconcileUntil } from "../deployment-fixtures";
import { callerFor, databaseDigest, outcome, unique } from "../helpers";

let f: Awaited<ReturnType<typeof localDeploymentFixture>>;
let owner: ReturnType<typeof callerFor>;
let orgId: string;

beforeAll(async () => {
  f = await localDeploymentFixture({ quota: 3, capacity: 4 });
  owner = callerFor(f.tenant.ownerId);
  orgId = f.tenant.org.id;
});

afterAll(async () => {
  for (const s of f.driver.recorded()) await f.driver.delete(s.replicaId);
  rmSync(f.stateDir, { recursive: true, force: true });
});

const quotaAllocated = async () => (await db.quota.findFirstOrThrow({ where: { orgId, regionId: f.region.id } })).allocatedGpus;
const regionAllocated = async () => (await db.regionCapacity.findFirstOrThrow({ where: { regionId: f.region.id } })).allocatedGpus;
const liveProcesses = () => f.driver.recorded().filter((s) => s.pid !== null);

function create(name: string, overrides: Partial<{ replicas: number; maxReplicas: number; dataClassification: "PUBLIC" | "INTERNAL" | "CONFIDENTIAL" | "RESTRICTED"; regionId: string; gpuTypeId: string; catalogModelId: string }> = {}) {
  return owner.deployments.create({
    orgId,
    name,
    catalogModelId: f.model.id,
    regionId: f.region.id,
    gpuTypeId: f.slot.id,
    replicas: 1,
    minReplicas: 1,
    maxReplicas: 3,
    dataClassification: "INTERNAL",
    ...overrides,
  });
}

/** A call straight to a replica, with its token as the gateway sends it. */
async function chat(endpoint: string, model: string) {
  const replica = await db.deploymentReplica.findFirstOrThrow({ where: { endpoint, state: "ready" } });
  const res = await fetch(`${endpoint}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: replicaAuthorization(replica.deploymentId, replica.id) },
    body: JSON.stringify({ model, messages: [{ role: "user", content: "Bonjour" }], max_tokens: 4 }),
  });
  return { status: res.status, body: (await res.json()) as { choices?: unknown[]; usage?: { completion_tokens: number } } };
}

describe("creating a deployment", () => {
  it("refuses what does not fit, before anything is reserved, with the reason", async () => {
    const before = await databaseDigest();
    const refusals = [
      [() => create(unique("quota"), { replicas: 4, maxReplicas: 8 }), /Quota exceeded.*4.*3/],
      [() => create(unique("gpu"), { gpuTypeId: f.tenant.gpuType.id }), /does not fit this GPU type/],
      [() => create("Not A Valid Name"), /lower-case letters/],
      [() => create(unique("minmax"), { replicas: 5, maxReplicas: 3 }), /between 1 and 3/],
    ] as const;
    for (const [attempt, message] of refusals) {
      const error = await attempt().then(() => null, (e: Error) => e);
      expect(error?.message).toMatch(message);
    }
    expect(await databaseDigest()).toBe(before);
  });

  it("refuses a region that the residency policy or its status rules out", async () => {
    await db.residencyPolicy.create({ data: { orgId, dataClassification: "CONFIDENTIAL", allowedJurisdictions: ["FR"], requiredCertifications: ["SecNumCloud"] } });
    let before = await databaseDigest();
    const policy = await create(unique("policy"), { dataClassification: "CONFIDENTIAL" }).then(() => null, (e: Error) => e.message);
    expect(policy).toContain("missing certification SecNumCloud");
    const options = await owner.deployments.options({ orgId, catalogModelId: f.model.id, dataClassification: "CONFIDENTIAL" });
    expect(options.find((o) => o.region.id === f.region.id)).toMatchObject({ allowed: false, reasons: ["missing certification SecNumCloud"] });
    expect(await databaseDigest()).toBe(before);

    await db.region.update({ where: { id: f.region.id }, data: { status: "MAINTENANCE", statusReason: "cooling works" } });
    before = await databaseDigest();
    const maintenance = await create(unique("maint")).then(() => null, (e: Error) => e.message);
    expect(await databaseDigest()).toBe(before);
    await db.region.update({ where: { id: f.region.id }, data: { status: "ACTIVE", statusReason: null } });
    expect(maintenance).toMatch(/maintenance.*cooling works/);
  });
});

describe("the reconcile loop on the local driver", () => {
  let deploymentId: string;
  const name = unique("assistant");

  it("reserves GPUs atomically on create, then runs a real model server that answers a chat completion", async () => {
    const d = await create(name);
    deploymentId = d.id;
    expect(await quotaAllocated()).toBe(1);
    expect(await regionAllocated()).toBe(1);
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "RUNNING");
    const detail = await owner.deployments.get({ orgId, deploymentId: d.id });
    expect(detail.replicaSet).toHaveLength(1);
    expect(detail.replicaSet[0]).toMatchObject({ state: "ready", revision: 1 });
    expect(detail.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const reply = await chat(detail.endpoint!, name);
    expect(reply.status).toBe(200);
    expect(reply.body.choices).toHaveLength(1);
    expect(reply.body.usage!.completion_tokens).toBeGreaterThan(0);
    expect(detail.events.map((e) => e.reason)).toEqual(expect.arrayContaining(["Created", "ReplicaCreated", "ReplicaReady"]));
    expect((detail.conditions as { type: string; status: string }[]).find((c) => c.type === "Available")?.status).toBe("True");
    // Converged: another pass changes nothing and starts nothing, and does not move a condition's
    // transition time ("Available since 19:40" stays 19:40 however many passes restate it).
    const processes = liveProcesses().length;
    const conditionsBefore = (await db.deployment.findUniqueOrThrow({ where: { id: d.id } })).conditions as { type: string; at: string }[];
    await new Promise((resolve) => setTimeout(resolve, 20)); // a later pass would stamp a later millisecond
    expect(await reconcileDeployment(d.id, { driver: f.driver })).toMatchObject({ status: "converged", phase: "RUNNING" });
    expect(liveProcesses()).toHaveLength(processes);
    const conditionsAfter = (await db.deployment.findUniqueOrThrow({ where: { id: d.id } })).conditions as { type: string; at: string }[];
    expect(conditionsAfter.map((c) => [c.type, c.at])).toEqual(conditionsBefore.map((c) => [c.type, c.at]));
  });

  it("starts again a replica that served and then died (a crash, a machine restart)", async () => {
    const before = await db.deploymentReplica.findFirstOrThrow({ where: { deploymentId, state: "ready" } });
    await db.deploymentReplica.update({ where: { id: before.id }, data: { readyAt: new Date(Date.now() - 5 * 60_000) } });
    const state = f.driver.recorded().find((s) => s.replicaId === before.id)!;
    process.kill(state.pid!, "SIGKILL");
    await reconcileUntil(deploymentId, f.driver, (r, phase) => phase === "RUNNING" && r.status === "converged" && f.driver.recorded().find((s) => s.replicaId === before.id)?.pid !== state.pid);
    const detail = await owner.deployments.get({ orgId, deploymentId });
    expect(detail.events.map((e) => e.reason)).toContain("ReplicaRestarted");
    expect((await chat(detail.endpoint!, name)).status).toBe(200);
  });

  it("scales out and in, reserving and releasing GPUs", async () => {
    await owner.deployments.scale({ orgId, deploymentId, replicas: 2 });
    expect(await quotaAllocated()).toBe(2);
    await reconcileUntil(deploymentId, f.driver, (_r, phase) => phase === "RUNNING");
    expect((await owner.deployments.get({ orgId, deploymentId })).replicaSet.filter((r) => r.state === "ready")).toHaveLength(2);
    expect(await outcome(() => owner.deployments.scale({ orgId, deploymentId, replicas: 4 }))).toBe("BAD_REQUEST");
    await owner.deployments.scale({ orgId, deploymentId, replicas: 1 });
    expect(await quotaAllocated()).toBe(1);
    await reconcileUntil(deploymentId, f.driver, (r, phase) => phase === "RUNNING" && r.status === "converged");
    expect(liveProcesses().filter((s) => s.deploymentId === deploymentId)).toHaveLength(1);
  });

  it("updates to a newer version with a rolling replacement, and rolls back", async () => {
    const oldReplica = (await db.deploymentReplica.findFirstOrThrow({ where: { deploymentId, state: "ready" } })).id;
    await owner.deployments.update({ orgId, deploymentId, catalogModelId: f.modelV2.id });
    // First pass: the new revision's replica starts while the old one keeps serving.
    await reconcileDeployment(deploymentId, { driver: f.driver });
    const during = await db.deploymentReplica.findMany({ where: { deploymentId, state: { not: "gone" } } });
    expect(during.map((r) => r.revision).sort()).toEqual([1, 2]);
    expect(during.find((r) => r.id === oldReplica)?.state).toBe("ready");
    await reconcileUntil(deploymentId, f.driver, (r, phase) => phase === "RUNNING" && r.status === "converged");
    const after = await db.deploymentReplica.findMany({ where: { deploymentId, state: { not: "gone" } } });
    expect(after.map((r) => r.revision)).toEqual([2]);
    expect(f.driver.recorded().some((s) => s.replicaId === oldReplica)).toBe(false);

    await owner.deployments.rollback({ orgId, deploymentId });
    await reconcileUntil(deploymentId, f.driver, (r, phase) => phase === "RUNNING" && r.status === "converged");
    const rolledBack = await db.deployment.findUniqueOrThrow({ where: { id: deploymentId } });
    expect(rolledBack).toMatchObject({ revision: 3, catalogModelId: f.model.id, previousModelId: f.modelV2.id });
  });

  it("stop releases the GPUs and the processes; start reserves them again", async () => {
    const availableAt = async () => ((await db.deployment.findUniqueOrThrow({ where: { id: deploymentId } })).conditions as { type: string; status: string; at: string }[]).find((c) => c.type === "Available")!;
    const whileRunning = await availableAt();
    await owner.deployments.stop({ orgId, deploymentId });
    expect(await quotaAllocated()).toBe(1); // released once the replicas are really gone
    await reconcileUntil(deploymentId, f.driver, (_r, phase) => phase === "STOPPED");
    expect(await quotaAllocated()).toBe(0);
    expect(await regionAllocated()).toBe(0);
    expect(liveProcesses().filter((s) => s.deploymentId === deploymentId)).toHaveLength(0);
    // A status change is a transition: its time moves.
    const stopped = await availableAt();
    expect(whileRunning.status).toBe("True");
    expect(stopped.status).toBe("False");
    expect(Date.parse(stopped.at)).toBeGreaterThan(Date.parse(whileRunning.at));
    await owner.deployments.start({ orgId, deploymentId });
    expect(await quotaAllocated()).toBe(1);
    await reconcileUntil(deploymentId, f.driver, (_r, phase) => phase === "RUNNING");
  });

  it("delete removes the cluster resources, releases the GPUs and frees the name", async () => {
    await owner.deployments.delete({ orgId, deploymentId });
    await reconcileUntil(deploymentId, f.driver, (_r, phase) => phase === "DELETED");
    expect(await quotaAllocated()).toBe(0);
    expect(f.driver.recorded().filter((s) => s.deploymentId === deploymentId)).toHaveLength(0);
    expect((await owner.deployments.list({ orgId })).items.map((d) => d.id)).not.toContain(deploymentId);
    const again = await create(name);
    await owner.deployments.delete({ orgId, deploymentId: again.id });
    await reconcileUntil(again.id, f.driver, (_r, phase) => phase === "DELETED");
    const actions = (await db.auditEvent.findMany({ where: { chain: orgId, targetId: deploymentId }, orderBy: { seq: "asc" } })).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["deployment.created", "deployment.scale", "deployment.update", "deployment.rollback", "deployment.stop", "deployment.start", "deployment.delete", "deployment.phase_changed"]));
    expect((await verifyAuditChain(db, orgId)).ok).toBe(true);
  });

  it("a driver failure ends in failed with the driver's message, GPUs released, and retry works once fixed", async () => {
    const broken = await db.catalogModel.create({
      data: { ...(await db.catalogModel.findUniqueOrThrow({ where: { id: f.model.id }, select: { family: true, name: true, parameterCount: true, contextLength: true, license: true, openWeights: true, openData: true, origin: true, runtime: true, gpuMemoryGb: true } })), slug: unique("broken"), version: "1", artifactUri: "file:///nowhere/model.gguf", fitsGpuTypes: { connect: [{ id: f.slot.id }] } },
    });
    const d = await create(unique("broken"), { catalogModelId: broken.id });
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "FAILED");
    await reconcileUntil(d.id, f.driver, (r) => r.status === "converged");
    const failed = await owner.deployments.get({ orgId, deploymentId: d.id });
    expect(failed.phase).toBe("FAILED");
    expect(JSON.stringify(failed.conditions)).toContain("/nowhere/model.gguf");
    expect(failed.reservedGpus).toBe(0);
    expect(await quotaAllocated()).toBe(0);

    await db.catalogModel.update({ where: { id: broken.id }, data: { artifactUri: f.model.artifactUri } });
    await owner.deployments.retry({ orgId, deploymentId: d.id });
    expect(await quotaAllocated()).toBe(1);
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "RUNNING");
    await owner.deployments.delete({ orgId, deploymentId: d.id });
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "DELETED");
  });
});

describe("workers", () => {
  it("two workers never reconcile the same deployment at once", async () => {
    const d = await create(unique("lease"));
    expect(await acquireLease(d.id, "worker-a")).toBe(true);
    expect(await reconcileDeployment(d.id, { driver: f.driver, owner: "worker-b" })).toEqual({ status: "busy" });
    await releaseLease(d.id, "worker-a");

    // Both race on the same deployment many times; the driver notes overlapping calls.
    let inFlight = 0;
    let overlaps = 0;
    const applied: string[] = [];
    const watched: ClusterDriver = {
      kind: "local",
      apply: async (spec: ReplicaSpec) => {
        applied.push(spec.replicaId);
        return f.driver.apply(spec);
      },
      observe: async (filter) => {
        if (++inFlight > 1) overlaps++;
        try {
          await new Promise((r) => setTimeout(r, 20));
          return await f.driver.observe(filter);
        } finally {
          inFlight--;
        }
      },
      delete: (id) => f.driver.delete(id),
      capacity: () => f.driver.capacity(),
    };
    const loop = async (owner: string) => {
      for (let i = 0; i < 15; i++) await reconcileDeployment(d.id, { driver: watched, owner });
    };
    await Promise.all([loop("worker-a"), loop("worker-b")]);
    expect(overlaps).toBe(0);
    expect(new Set(applied).size).toBe(applied.length);
    expect(await db.deploymentReplica.count({ where: { deploymentId: d.id, state: { not: "gone" } } })).toBe(1);
    await owner.deployments.delete({ orgId, deploymentId: d.id });
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "DELETED");
  });

  it("the orphan collector removes cluster objects that no replica owns", async () => {
    const region = await db.region.findUniqueOrThrow({ where: { id: f.region.id } });
    const spec: ReplicaSpec = {
      replicaId: unique("orphan"),
      deploymentId: "no-such-deployment",
      servedModelName: "orphan",
      tenant: "nobody",
      revision: 1,
      model: { slug: "tiny", artifactUri: f.model.artifactUri, artifactSha256: "", runtime: "LLAMA_CPP", contextLength: 512 },
      gpu: { type: f.slot.code, count: 1 },
    };
    await f.driver.apply(spec);
    expect(existsSync(`${f.stateDir}/${spec.replicaId}.json`)).toBe(true);
    const removed = await collectOrphans((r) => (r.code === region.code ? f.driver : { kind: "local", apply: async () => { throw new Error("unused"); }, observe: async () => [], delete: async () => {}, capacity: async () => [] }));
    expect(removed).toEqual([spec.replicaId]);
    expect(readdirSync(f.stateDir).filter((n) => n.startsWith(spec.replicaId) && n.endsWith(".json"))).toEqual([]);
  });

  it("a suspended organisation's deployments stop and release their GPUs; after reactivation they start again on request", async () => {
    const admin = callerFor((await db.user.create({ data: { email: `${unique("pa")}@example.test`, name: "Platform admin", platformAdmin: true } })).id);
    const d = await create(unique("suspend"));
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "RUNNING");
    await admin.admin.setOrganizationStatus({ orgId, status: "SUSPENDED", reason: "Unpaid invoices" });
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "STOPPED");
    expect(f.driver.recorded().filter((s) => s.deploymentId === d.id)).toHaveLength(0);
    expect((await db.deployment.findUniqueOrThrow({ where: { id: d.id } })).reservedGpus).toBe(0);
    expect(await outcome(() => owner.deployments.start({ orgId, deploymentId: d.id }))).toBe("FORBIDDEN");
    await admin.admin.setOrganizationStatus({ orgId, status: "ACTIVE" });
    // Nothing restarts by itself: GPUs are reserved again only by an explicit start.
    expect(await reconcileDeployment(d.id, { driver: f.driver })).toMatchObject({ phase: "STOPPED" });
    await owner.deployments.start({ orgId, deploymentId: d.id });
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "RUNNING");
    await owner.deployments.delete({ orgId, deploymentId: d.id });
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "DELETED");
  });

  it("meters GPU time from observed running time, once", async () => {
    const d = await create(unique("meter"), { replicas: 2 });
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "RUNNING");
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    await db.deploymentReplica.updateMany({ where: { deploymentId: d.id, state: "ready" }, data: { readyAt: twoHoursAgo, meteredUntil: null } });
    const now = new Date();
    await meterGpuHours(now);
    await meterGpuHours(now); // nothing new to count
    const usage = await db.gpuUsage.findMany({ where: { deploymentId: d.id } });
    const gpuSeconds = usage.reduce((s, u) => s + u.gpuSeconds, 0);
    expect(gpuSeconds).toBeGreaterThanOrEqual(2 * 7200 - 2);
    expect(gpuSeconds).toBeLessThanOrEqual(2 * 7200 + 2);
    // 2 GPU-hours × 2 replicas at €0.36/GPU-hour = €1.44.
    const cost = usage.reduce((s, u) => s + Number(u.costMicroEur), 0);
    expect(cost).toBeGreaterThan(1_439_000);
    expect(cost).toBeLessThan(1_441_000);
    await owner.deployments.delete({ orgId, deploymentId: d.id });
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "DELETED");
  });
});
