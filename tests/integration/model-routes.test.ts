/**
 * Routes (docs/routes.md), the control plane: created, changed and deleted by owners and admins over
 * tRPC and REST, validated with precise messages (members are live deployments of the organisation;
 * a route's name is never a deployment's, and the other way round), audit-logged with before and
 * after in the same transaction, out of reach of another organisation, and announced to a real
 * gateway by NOTIFY alone (its poll and full refresh turned off).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { createGateway, type Gateway } from "@/server/gateway/server";
import { waitFor } from "../gateway-fixtures";
import { callerFor, createTenant, databaseDigest, outcome, refusal, unique, type Tenant } from "../helpers";
import { call, issueKey, startRestServer, type RestServer } from "../rest-fixtures";

let a: Tenant;
let b: Tenant;
let second: { id: string; name: string };
let rest: RestServer;

/** Another live deployment of `t` (in the fixture's region). */
async function anotherDeployment(t: Tenant, dataClassification: "INTERNAL" | "RESTRICTED" = "INTERNAL") {
  return db.deployment.create({
    data: { orgId: t.org.id, name: unique("dep"), catalogModelId: t.model.id, regionId: t.region.id, gpuTypeId: t.gpuType.id, gpusPerReplica: 1, dataClassification, createdById: t.ownerId },
  });
}

beforeAll(async () => {
  a = await createTenant("routes-a");
  b = await createTenant("routes-b");
  second = await anotherDeployment(a);
  rest = await startRestServer();
});

afterAll(async () => {
  await rest?.close();
});

describe("creating a route", () => {
  it("keeps the members in the order given, with their weights, and audits it in the same transaction", async () => {
    const admin = callerFor(a.admin.user.id);
    const name = unique("assistant");
    const created = await admin.modelRoutes.create({
      orgId: a.org.id,
      name,
      mode: "WEIGHTED",
      members: [
        { deploymentId: second.id, weight: 3 },
        { deploymentId: a.deployment.id, weight: 1 },
      ],
    });
    expect(created).toMatchObject({ name, mode: "WEIGHTED", dataClassification: "INTERNAL", maxInFlightPerReplica: 4 });
    expect(created.members.map((m) => [m.position, m.deploymentId, m.weight])).toEqual([
      [0, second.id, 3],
      [1, a.deployment.id, 1],
    ]);
    // RESTRICTED: the fixture's policy requires SecNumCloud, which its region lacks; INTERNAL deployments refuse it anyway.
    const restricted = created.members[0].dataClasses.find((c) => c.dataClassification === "RESTRICTED")!;
    expect(restricted.allowed).toBe(false);
    expect(restricted.reasons.join(" ")).toMatch(/stricter than INTERNAL/);
    const event = await db.auditEvent.findFirstOrThrow({ where: { chain: a.org.id, action: "model_route.created", targetId: created.id } });
    expect(event.actorId).toBe(a.admin.user.id);
    expect(event.after).toMatchObject({ name, mode: "WEIGHTED", members: [{ position: 0, deploymentId: second.id, deploymentName: second.name, weight: 3 }, { position: 1, deploymentId: a.deployment.id }] });
  });

  it("refuses bad input with precise messages and writes nothing", async () => {
    const admin = callerFor(a.admin.user.id);
    const before = await databaseDigest();
    const input = { orgId: a.org.id, name: unique("r"), members: [{ deploymentId: a.deployment.id, weight: 1 }] };
    expect((await refusal(() => admin.modelRoutes.create({ ...input, members: [] }))).fieldErrors).toMatchObject({ members: ["Add at least one deployment"] });
    expect((await refusal(() => admin.modelRoutes.create({ ...input, members: [input.members[0], input.members[0]] }))).fieldErrors.members).toEqual(["A deployment appears twice in the route"]);
    expect((await refusal(() => admin.modelRoutes.create({ ...input, members: [{ deploymentId: a.deployment.id, weight: 0 }] }))).fieldErrors["members.0.weight"] ?? []).toEqual([
      "A weight is at least 1",
    ]);
    expect((await refusal(() => admin.modelRoutes.create({ ...input, name: "Not A Name" }))).fieldErrors.name?.[0]).toMatch(/lower-case letters/);
    expect((await refusal(() => admin.modelRoutes.create({ ...input, maxInFlightPerReplica: 0 }))).fieldErrors.maxInFlightPerReplica).toEqual(["At least 1 request in flight per replica"]);
    const unknown = await refusal(() => admin.modelRoutes.create({ ...input, members: [{ deploymentId: "no-such-deployment", weight: 1 }] }));
    expect(unknown).toMatchObject({ code: "NOT_FOUND", message: "The deployment of member 1 was not found" });
    expect(await databaseDigest()).toBe(before);
  });

  it("refuses a deleted deployment as a member, by name", async () => {
    const gone = await anotherDeployment(a);
    await db.deployment.update({ where: { id: gone.id }, data: { desiredState: "DELETED", phase: "DELETED", deletedAt: new Date() } });
    const r = await refusal(() => callerFor(a.ownerId).modelRoutes.create({ orgId: a.org.id, name: unique("r"), members: [{ deploymentId: gone.id, weight: 1 }] }));
    expect(r).toMatchObject({ code: "BAD_REQUEST", message: `The deployment ${gone.name} is deleted or being deleted: a route cannot send requests to it` });
  });

  it("shares the model namespace with deployments, both ways", async () => {
    const owner = callerFor(a.ownerId);
    const clash = await refusal(() => owner.modelRoutes.create({ orgId: a.org.id, name: a.deployment.name, members: [{ deploymentId: a.deployment.id, weight: 1 }] }));
    expect(clash).toMatchObject({ code: "CONFLICT", message: expect.stringContaining(`A deployment named ${a.deployment.name} already exists`) });
    const route = await owner.modelRoutes.create({ orgId: a.org.id, name: unique("shared"), members: [{ deploymentId: a.deployment.id, weight: 1 }] });
    // A deployment that could be created but for its name: the model fits the fixture's GPU type.
    await db.catalogModel.update({ where: { id: a.model.id }, data: { fitsGpuTypes: { connect: [{ id: a.gpuType.id }] } } });
    const taken = await refusal(() =>
      owner.deployments.create({ orgId: a.org.id, name: route.name, catalogModelId: a.model.id, regionId: a.region.id, gpuTypeId: a.gpuType.id, replicas: 1, minReplicas: 1, maxReplicas: 1, dataClassification: "INTERNAL" }),
    );
    expect(taken).toMatchObject({ code: "CONFLICT", message: expect.stringContaining(`A route named ${route.name} already exists`) });
    const twice = await refusal(() => owner.modelRoutes.create({ orgId: a.org.id, name: route.name, members: [{ deploymentId: a.deployment.id, weight: 1 }] }));
    expect(twice).toMatchObject({ code: "CONFLICT", message: `A route named ${route.name} already exists` });
  });

  it("is refused to members and viewers", async () => {
    const input = { orgId: a.org.id, name: unique("r"), members: [{ deploymentId: a.deployment.id, weight: 1 }] };
    expect(await outcome(() => callerFor(a.member.user.id).modelRoutes.create(input))).toBe("FORBIDDEN");
    expect(await outcome(() => callerFor(a.viewer.user.id).modelRoutes.create(input))).toBe("FORBIDDEN");
    // Reading is for every member.
    expect((await callerFor(a.viewer.user.id).modelRoutes.list({ orgId: a.org.id })).length).toBeGreaterThan(0);
  });
});

describe("changing and deleting a route", () => {
  it("replaces the members and settings, audits before and after, writes nothing when unchanged, and deletes", async () => {
    const admin = callerFor(a.admin.user.id);
    const route = await admin.modelRoutes.create({ orgId: a.org.id, name: unique("r"), members: [{ deploymentId: a.deployment.id, weight: 1 }] });
    const changed = await admin.modelRoutes.update({ orgId: a.org.id, modelRouteId: route.id, dataClassification: "CONFIDENTIAL", members: [{ deploymentId: second.id, weight: 2 }, { deploymentId: a.deployment.id, weight: 1 }] });
    expect(changed.dataClassification).toBe("CONFIDENTIAL");
    expect(changed.members.map((m) => m.deploymentId)).toEqual([second.id, a.deployment.id]);
    const event = await db.auditEvent.findFirstOrThrow({ where: { chain: a.org.id, action: "model_route.updated", targetId: route.id } });
    expect(event.before).toMatchObject({ dataClassification: "INTERNAL", members: [{ deploymentId: a.deployment.id }] });
    expect(event.after).toMatchObject({ dataClassification: "CONFIDENTIAL", members: [{ deploymentId: second.id, weight: 2 }, { deploymentId: a.deployment.id }] });

    const digest = await databaseDigest();
    await admin.modelRoutes.update({ orgId: a.org.id, modelRouteId: route.id, dataClassification: "CONFIDENTIAL" });
    expect(await databaseDigest()).toBe(digest);

    expect(await admin.modelRoutes.remove({ orgId: a.org.id, modelRouteId: route.id })).toEqual({ id: route.id, name: route.name, deleted: true });
    expect(await db.modelRoute.findUnique({ where: { id: route.id } })).toBeNull();
    expect(await db.modelRouteMember.count({ where: { modelRouteId: route.id } })).toBe(0);
    const removed = await db.auditEvent.findFirstOrThrow({ where: { chain: a.org.id, action: "model_route.deleted", targetId: route.id } });
    expect(removed.before).toMatchObject({ name: route.name, dataClassification: "CONFIDENTIAL" });
    // The deployments themselves are untouched.
    expect(await db.deployment.count({ where: { id: { in: [second.id, a.deployment.id] }, deletedAt: null } })).toBe(2);
  });
});

describe("isolation", () => {
  it("B reaches none of A's routes, and cannot put A's deployments in its own", async () => {
    const routeOfA = await callerFor(a.ownerId).modelRoutes.create({ orgId: a.org.id, name: unique("private"), members: [{ deploymentId: a.deployment.id, weight: 1 }] });
    const outsider = callerFor(b.ownerId);
    const before = await databaseDigest();
    expect(await outcome(() => outsider.modelRoutes.update({ orgId: b.org.id, modelRouteId: routeOfA.id, mode: "WEIGHTED" }))).toBe("NOT_FOUND");
    expect(await outcome(() => outsider.modelRoutes.remove({ orgId: b.org.id, modelRouteId: routeOfA.id }))).toBe("NOT_FOUND");
    expect(await outcome(() => outsider.modelRoutes.list({ orgId: a.org.id }))).toBe("FORBIDDEN");
    expect(await outcome(() => outsider.modelRoutes.create({ orgId: b.org.id, name: unique("mixed"), members: [{ deploymentId: b.deployment.id, weight: 1 }, { deploymentId: a.deployment.id, weight: 1 }] }))).toBe("NOT_FOUND");
    expect((await outsider.modelRoutes.list({ orgId: b.org.id })).map((r) => r.id)).not.toContain(routeOfA.id);
    expect(await databaseDigest()).toBe(before);
  });
});

describe("over REST", () => {
  it("POST, GET (list), PATCH and DELETE /orgs/{orgId}/routes with a manage key; bad input is a precise 400", async () => {
    const key = await issueKey(a.org.id, a.ownerId, ["manage"], "routes program");
    const base = `/orgs/${a.org.id}/routes`;
    const name = unique("rest-route");
    const created = await call(rest, "POST", base, { auth: key.key, body: { name, mode: "PRIORITY", members: [{ deploymentId: a.deployment.id }, { deploymentId: second.id, weight: 5 }] } });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body.members.map((m: { deploymentId: string; weight: number }) => [m.deploymentId, m.weight])).toEqual([
      [a.deployment.id, 1],
      [second.id, 5],
    ]);
    expect(await db.auditEvent.findFirst({ where: { chain: a.org.id, action: "model_route.created", actorType: "API_KEY", actorId: key.id } })).not.toBeNull();
    const patched = await call(rest, "PATCH", `${base}/${created.body.id}`, { auth: key.key, body: { maxInFlightPerReplica: 16 } });
    expect(patched.status).toBe(200);
    expect(patched.body.maxInFlightPerReplica).toBe(16);
    const bad = await call(rest, "PATCH", `${base}/${created.body.id}`, { auth: key.key, body: { mode: "ROUND_ROBIN" } });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.body)).toContain("Mode is PRIORITY or WEIGHTED");
    const list = await call(rest, "GET", base, { auth: key.key });
    expect(list.body.map((r: { name: string }) => r.name)).toContain(name);
    const deleted = await call(rest, "DELETE", `${base}/${created.body.id}`, { auth: key.key });
    expect(deleted.body).toEqual({ id: created.body.id, name, deleted: true });
  });
});

describe("propagation", () => {
  it("reaches a gateway by NOTIFY alone: created, changed and deleted", async () => {
    const spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-model-routes-"));
    let gateway: Gateway | null = null;
    try {
      gateway = createGateway({ databaseUrl: process.env.DATABASE_URL!, port: 0, spoolDir: path.join(spoolRoot, "gw"), pollMs: 3_600_000, fullRefreshMs: 3_600_000, log: () => {} });
      await gateway.listen();
      const admin = callerFor(a.admin.user.id);
      const route = await admin.modelRoutes.create({ orgId: a.org.id, name: unique("live"), members: [{ deploymentId: a.deployment.id, weight: 1 }] });
      await waitFor(() => gateway!.state.modelRoutes.get(a.org.id, route.name)?.members.length === 1);
      await admin.modelRoutes.update({ orgId: a.org.id, modelRouteId: route.id, mode: "WEIGHTED", members: [{ deploymentId: second.id, weight: 7 }, { deploymentId: a.deployment.id, weight: 1 }] });
      await waitFor(() => gateway!.state.modelRoutes.get(a.org.id, route.name)?.mode === "WEIGHTED");
      expect(gateway.state.modelRoutes.get(a.org.id, route.name)!.members).toEqual([
        { deploymentId: second.id, weight: 7 },
        { deploymentId: a.deployment.id, weight: 1 },
      ]);
      await admin.modelRoutes.remove({ orgId: a.org.id, modelRouteId: route.id });
      await waitFor(() => gateway!.state.modelRoutes.get(a.org.id, route.name) === undefined);
    } finally {
      await gateway?.close();
      rmSync(spoolRoot, { recursive: true, force: true });
    }
  });
});
