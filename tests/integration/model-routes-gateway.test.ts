/**
 * Routes in the gateway (docs/routes.md), with real parts: two deployments of the tiny model served
 * by real model-server processes (local driver, reconcile loop), standing for two regions — an
 * on-premises sovereign one, and an EU cloud that the organisation's RESTRICTED policy refuses —
 * behind one route. Over a thousand calls under load with the sovereign member saturated, RESTRICTED
 * calls only ever reach it (they wait in its queue) while INTERNAL ones overflow to the cloud; with
 * its model server killed, RESTRICTED calls are refused with the reason and INTERNAL ones fail over.
 * Counted from each call's trace and from the Trace rows the gateway writes. The official `openai`
 * client calls the route by name.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { createGateway, type Gateway } from "@/server/gateway/server";
import type { TraceRecord } from "@/server/gateway/trace";
import { putResidencyPolicy } from "@/server/services/residency";
import { createApiKey, localDeploymentFixture, reconcileUntil } from "../deployment-fixtures";
import { chatBody, waitFor } from "../gateway-fixtures";
import { callerFor, unique } from "../helpers";

let f: Awaited<ReturnType<typeof localDeploymentFixture>>;
let gateway: Gateway;
let spoolRoot: string;
let key: string;
let orgId: string;
let sovereign: { id: string; name: string };
let cloud: { id: string; name: string };
const routeName = unique("assistant");

/** What the test keeps of each answered call's trace (onTrace must not keep the record itself). */
interface Seen {
  requestId: string;
  status: number;
  errorCode: string | null;
  dataClass: string | null;
  deploymentId: string | null;
  routeSpans: Record<string, unknown>[];
}
const seen = new Map<string, Seen>();

function keep(trace: TraceRecord) {
  if (!trace.requestId.startsWith("mr-")) return;
  seen.set(trace.requestId, {
    requestId: trace.requestId,
    status: trace.status,
    errorCode: trace.errorCode,
    dataClass: trace.dataClass,
    deploymentId: trace.deploymentId,
    routeSpans: trace.spans.filter((s) => s.name === "model_route").map((s) => ({ ...s.attributes })),
  });
}

let counter = 0;
async function callRoute(dataClass: "RESTRICTED" | "INTERNAL") {
  const requestId = `mr-${++counter}`;
  const res = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", "x-data-classification": dataClass, "x-request-id": requestId },
    body: chatBody(routeName, { max_tokens: 2 }),
  });
  const body = (await res.json()) as { error?: { message: string; code: string } };
  return { requestId, dataClass, status: res.status, error: body.error };
}

/** `total` calls, alternating classes, `concurrency` at a time; the answers in call order. */
async function load(total: number, concurrency: number) {
  const results: Awaited<ReturnType<typeof callRoute>>[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const i = next++;
        results[i] = await callRoute(i % 2 === 0 ? "RESTRICTED" : "INTERNAL");
      }
    }),
  );
  return results;
}

beforeAll(async () => {
  f = await localDeploymentFixture({ quota: 2, capacity: 4 });
  orgId = f.tenant.org.id;
  const euCloud = await db.region.create({
    data: {
      code: unique("eu-cloud"),
      name: "EU public cloud (test)",
      provider: "tests",
      country: "DE",
      city: "Frankfurt",
      jurisdiction: "DE",
      certifications: ["C5", "ISO 27001"],
      onPremises: false,
      driverKind: "LOCAL",
      carbonIntensityGco2Kwh: 350,
      capacities: { create: { gpuTypeId: f.slot.id, totalGpus: 4, priceCentsPerGpuHour: 30 } },
    },
  });
  await db.quota.create({ data: { orgId, regionId: euCloud.id, gpuTypeId: f.slot.id, limitGpus: 2 } });
  const actor = { type: "USER" as const, id: f.tenant.ownerId, label: "owner" };
  // RESTRICTED: the on-premises region only. INTERNAL: anywhere in the EU.
  await putResidencyPolicy(orgId, actor, "RESTRICTED", { allowedJurisdictions: [], requiredCertifications: [], allowedRegionIds: [f.region.id], allowExtraterritorial: false });
  await putResidencyPolicy(orgId, actor, "INTERNAL", { allowedJurisdictions: ["FR", "DE"], requiredCertifications: [], allowedRegionIds: [], allowExtraterritorial: false });
  const owner = callerFor(f.tenant.ownerId);
  const common = { catalogModelId: f.model.id, gpuTypeId: f.slot.id, replicas: 1, minReplicas: 1, maxReplicas: 1 };
  sovereign = await owner.deployments.create({ ...common, orgId, name: unique("onprem"), regionId: f.region.id, dataClassification: "RESTRICTED" });
  cloud = await owner.deployments.create({ ...common, orgId, name: unique("eucloud"), regionId: euCloud.id, dataClassification: "INTERNAL" });
  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-model-routes-gw-"));
  gateway = createGateway({ databaseUrl: process.env.DATABASE_URL!, port: 0, spoolDir: path.join(spoolRoot, "gw"), onTrace: keep, log: () => {} });
  await gateway.listen();
  await Promise.all([sovereign, cloud].map((d) => reconcileUntil(d.id, f.driver, (r, phase) => phase === "RUNNING" && r.status === "converged")));
  // Saturated at 2 calls in flight per replica: the model server runs 2 generations at once.
  await owner.modelRoutes.create({
    orgId,
    name: routeName,
    mode: "PRIORITY",
    dataClassification: "INTERNAL",
    maxInFlightPerReplica: 2,
    members: [{ deploymentId: sovereign.id, weight: 1 }, { deploymentId: cloud.id, weight: 1 }],
  });
  key = (await createApiKey(orgId, f.tenant.ownerId, { scopes: ["inference", "read"] })).key;
  await waitFor(() => gateway.state.modelRoutes.get(orgId, routeName) !== undefined && [sovereign, cloud].every((d) => (gateway.state.routesById.get(d.id)?.replicas.length ?? 0) > 0), 10_000);
}, 180_000);

afterAll(async () => {
  await gateway?.close();
  for (const s of f?.driver.recorded() ?? []) await f.driver.delete(s.replicaId);
  if (f) rmSync(f.stateDir, { recursive: true, force: true });
  if (spoolRoot) rmSync(spoolRoot, { recursive: true, force: true });
});

describe("the official openai client", () => {
  it("lists the route like a deployment and calls it by name", async () => {
    const client = new OpenAI({ apiKey: key, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const models = (await client.models.list()).data.map((m) => m.id);
    expect(models).toEqual(expect.arrayContaining([routeName, sovereign.name, cloud.name]));
    expect((await client.models.retrieve(routeName)).id).toBe(routeName);
    const answer = await client.chat.completions.create({ model: routeName, messages: [{ role: "user", content: "Bonjour" }], max_tokens: 3 });
    expect(answer.choices).toHaveLength(1);
    expect(answer.usage?.completion_tokens).toBeGreaterThan(0);
    const streamed = await client.chat.completions.create(
      { model: routeName, messages: [{ role: "user", content: "Bonjour" }], max_tokens: 3, stream: true },
      { headers: { "X-Data-Classification": "RESTRICTED" } },
    );
    let chunks = 0;
    for await (const _ of streamed) chunks++;
    expect(chunks).toBeGreaterThan(0);
  });
});

describe("under load, with the sovereign member saturated", () => {
  it("sends every RESTRICTED call to the sovereign deployment and lets INTERNAL calls overflow to the EU cloud", async () => {
    const results = await load(1000, 12);
    const restricted = results.filter((r) => r.dataClass === "RESTRICTED");
    const internal = results.filter((r) => r.dataClass === "INTERNAL");
    expect(restricted).toHaveLength(500);
    expect(results.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.error?.message}`)).toEqual([]);
    const where = (list: typeof results) => {
      const count: Record<string, number> = {};
      for (const r of list) {
        const d = seen.get(r.requestId)!.deploymentId!;
        count[d] = (count[d] ?? 0) + 1;
      }
      return count;
    };
    expect(where(restricted)).toEqual({ [sovereign.id]: 500 });
    const internalWhere = where(internal);
    expect(internalWhere[cloud.id]).toBeGreaterThan(0);
    expect((internalWhere[cloud.id] ?? 0) + (internalWhere[sovereign.id] ?? 0)).toBe(500);
    // Each overflow says why, with the candidates and their verdicts.
    const overflowed = internal.map((r) => seen.get(r.requestId)!).find((s) => s.deploymentId === cloud.id)!;
    expect(overflowed.routeSpans[0]).toMatchObject({ "enclave.model_route.name": routeName, "enclave.data_class": "INTERNAL", "enclave.deployment.name": cloud.name });
    expect(String(overflowed.routeSpans[0]["enclave.model_route.reason"])).toMatch(new RegExp(`^overflow: ${sovereign.name} is saturated`));
    const held = seen.get(restricted[restricted.length - 1].requestId)!;
    const candidates = held.routeSpans[0]["enclave.model_route.candidates"] as string[];
    expect(candidates[0]).toMatch(new RegExp(`^${sovereign.name} \\(${f.region.code}\\): allowed, `));
    expect(candidates[1]).toMatch(new RegExp(`^${cloud.name} \\(.+\\): refused: `));
    expect(candidates[1]).toContain("data class RESTRICTED is stricter than INTERNAL");

    // The gateway's own Trace rows (spooled, then written in batches) tell the same.
    await waitFor(async () => (await db.trace.count({ where: { orgId, requestId: { in: results.map((r) => r.requestId) } } })) === 1000, 30_000, 200);
    const rows = await db.trace.groupBy({ by: ["dataClass", "deploymentId"], where: { orgId, requestId: { in: results.map((r) => r.requestId) } }, _count: true });
    expect(rows.filter((r) => r.dataClass === "RESTRICTED")).toEqual([{ dataClass: "RESTRICTED", deploymentId: sovereign.id, _count: 500 }]);
  }, 300_000);
});

describe("with the sovereign member down", () => {
  it("refuses RESTRICTED calls with the reason, never sending one to the EU cloud, and fails INTERNAL calls over", async () => {
    const replica = f.driver.recorded().find((s) => s.deploymentId === sovereign.id && s.pid !== null)!;
    process.kill(replica.pid!, "SIGKILL");
    await waitFor(() => {
      try {
        process.kill(replica.pid!, 0);
        return false;
      } catch {
        return true;
      }
    }, 5000);
    // The first call after the crash meets the dead server, then fails over, traced with its reason.
    const first = await callRoute("INTERNAL");
    expect(first.status).toBe(200);
    const firstSeen = seen.get(first.requestId)!;
    expect(firstSeen.deploymentId).toBe(cloud.id);
    expect(firstSeen.routeSpans.map((a) => a["enclave.model_route.reason"])).toEqual(["first compliant member in preference order, with room", `failover: ${sovereign.name} failed before answering`]);
    const results = await load(200, 8);
    const restricted = results.filter((r) => r.dataClass === "RESTRICTED");
    const internal = results.filter((r) => r.dataClass === "INTERNAL");
    expect(new Set(restricted.map((r) => `${r.status} ${r.error?.code}`))).toEqual(new Set(["503 no_compliant_deployment"]));
    const message = restricted[0].error!.message;
    expect(message).toContain(`route \`${routeName}\` that may take RESTRICTED data`);
    expect(message).toContain(`${sovereign.name} (${f.region.code}): allowed, down`);
    expect(message).toMatch(new RegExp(`${cloud.name} \\(.+\\): refused`));
    expect(internal.map((r) => r.status)).toEqual(Array(100).fill(200));
    for (const r of internal) expect(seen.get(r.requestId)!.deploymentId).toBe(cloud.id);
    // No RESTRICTED call was ever sent to the cloud.
    for (const r of restricted) expect(seen.get(r.requestId)!.deploymentId).not.toBe(cloud.id);
  }, 120_000);
});
