import { beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { PLATFORM_CHAIN, recordAudit, systemActor, verifyAuditChain } from "@/server/services/audit";
import { callerFor, createOrganization, createTenant, createUser, gpuRegionFixture, listProcedures, unique, type Tenant } from "../helpers";

async function freshChain() {
  const orgId = (await db.organization.create({ data: { name: "audit", slug: unique("audit") } })).id;
  for (let i = 0; i < 5; i++) {
    await db.$transaction((tx) => recordAudit(tx, systemActor("test"), { orgId, action: "test.event", targetType: "Thing", targetId: `t${i}`, before: { n: i }, after: { n: i + 1, at: new Date() } }));
  }
  return orgId;
}

describe("tamper-evident audit trail", () => {
  it("verifies an untouched chain", async () => {
    const orgId = await freshChain();
    const result = await verifyAuditChain(db, orgId);
    expect(result).toMatchObject({ ok: true, events: 5 });
  });

  it("detects an edited event", async () => {
    const orgId = await freshChain();
    await db.auditEvent.updateMany({ where: { chain: orgId, seq: 3 }, data: { after: { n: 999 } } });
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: false, brokenAtSeq: 3, reason: expect.stringContaining("altered") });
  });

  it("detects an edited actor or timestamp, not only the diff", async () => {
    const orgId = await freshChain();
    await db.auditEvent.updateMany({ where: { chain: orgId, seq: 2 }, data: { actorLabel: "someone-else" } });
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: false, brokenAtSeq: 2 });
  });

  it("detects a deleted event in the middle", async () => {
    const orgId = await freshChain();
    await db.auditEvent.deleteMany({ where: { chain: orgId, seq: 2 } });
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: false, brokenAtSeq: 2, reason: expect.stringContaining("missing") });
  });

  it("detects a deleted last event", async () => {
    const orgId = await freshChain();
    await db.auditEvent.deleteMany({ where: { chain: orgId, seq: 5 } });
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: false, reason: expect.stringContaining("removed") });
  });

  it("detects a re-hashed forgery that does not link to its predecessor", async () => {
    const orgId = await freshChain();
    await db.auditEvent.updateMany({ where: { chain: orgId, seq: 4 }, data: { prevHash: "f".repeat(64) } });
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: false, brokenAtSeq: 4 });
  });

  it("keeps one gap-free chain under concurrent writers", async () => {
    const orgId = (await db.organization.create({ data: { name: "race", slug: unique("race") } })).id;
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => db.$transaction((tx) => recordAudit(tx, systemActor(), { orgId, action: "race", targetType: "Thing", targetId: String(i) }))),
    );
    const seqs = (await db.auditEvent.findMany({ where: { chain: orgId }, select: { seq: true }, orderBy: { seq: "asc" } })).map((e) => e.seq);
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: true, events: 20 });
  });

  it("writes nothing when the change it describes is rolled back", async () => {
    const orgId = (await db.organization.create({ data: { name: "rollback", slug: unique("rb") } })).id;
    await expect(
      db.$transaction(async (tx) => {
        await tx.organization.update({ where: { id: orgId }, data: { name: "changed" } });
        await recordAudit(tx, systemActor(), { orgId, action: "organization.renamed", targetType: "Organization", targetId: orgId });
        throw new Error("failure half-way");
      }),
    ).rejects.toThrow("failure half-way");
    expect(await db.auditEvent.count({ where: { chain: orgId } })).toBe(0);
    expect((await db.organization.findUniqueOrThrow({ where: { id: orgId } })).name).toBe("rollback");
  });
});

/**
 * Every mutation of the router, called rightfully, must leave an audit event: the list is read
 * from the router, so a new mutation without a case here fails this test.
 */
describe("audit from the first mutation", () => {
  let t: Tenant;
  let platformAdmin: ReturnType<typeof callerFor>;
  beforeAll(async () => {
    t = await createTenant("audited");
    platformAdmin = callerFor((await createUser("platform-admin", { platformAdmin: true })).id);
  });

  const justification = "Capacity for the audit test's workload.";
  /** A pending quota request of `t` in a fresh region (t's fixture region already has one pending). */
  const pendingRequest = async (t: Tenant) => {
    const { region, gpuType } = await gpuRegionFixture();
    return callerFor(t.admin.user.id).quotas.request({ orgId: t.org.id, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 2, justification });
  };
  const regionForm = (gpuTypeId: string) => ({
    code: unique("audit-region"),
    name: "Audit region",
    provider: "Test",
    country: "FR",
    city: "Lyon",
    jurisdiction: "FR",
    certifications: ["ISO 27001"],
    extraterritorialExposure: false,
    onPremises: false,
    driverKind: "LOCAL" as const,
    carbonIntensityGco2Kwh: 40,
    capacities: [{ gpuTypeId, totalGpus: 8, priceCentsPerGpuHour: 200 }],
  });
  const modelForm = (gpuTypeId: string) => ({
    slug: unique("audit-model"),
    family: "Test",
    name: "Audit model",
    version: "1",
    parameterCount: "7000000000",
    contextLength: 8192,
    license: "Apache-2.0",
    openWeights: true,
    openData: false,
    origin: "tests",
    artifactUri: "hf://example/audit-model",
    runtime: "VLLM" as const,
    gpuMemoryGb: 16,
    minGpuCount: 1,
    fitsGpuTypeIds: [gpuTypeId],
  });
  /** A deployment of `t` in its fixture region (the fixture model is made to fit the fixture GPU). */
  const deploymentOf = async (t: Tenant) => {
    await db.catalogModel.update({ where: { id: t.model.id }, data: { fitsGpuTypes: { connect: [{ id: t.gpuType.id }] } } });
    // Room for this deployment and a scale-out, whatever the earlier cases reserved.
    await db.quota.update({ where: { id: t.quota.id }, data: { limitGpus: { increment: 2 } } });
    return callerFor(t.admin.user.id).deployments.create({
      orgId: t.org.id,
      name: unique("audited"),
      catalogModelId: t.model.id,
      regionId: t.region.id,
      gpuTypeId: t.gpuType.id,
      replicas: 1,
      minReplicas: 1,
      maxReplicas: 2,
      dataClassification: "INTERNAL",
    });
  };
  const onDeployment = (act: (caller: ReturnType<typeof callerFor>, input: { orgId: string; deploymentId: string }, t: Tenant) => Promise<unknown>) => async (t: Tenant) => {
    const d = await deploymentOf(t);
    await act(callerFor(t.admin.user.id), { orgId: t.org.id, deploymentId: d.id }, t);
    return { orgId: t.org.id };
  };
  /** Another version of the fixture model, for updates and rollbacks. */
  const newerVersion = async (t: Tenant) => {
    const m = await db.catalogModel.findUniqueOrThrow({ where: { id: t.model.id } });
    const { id: _id, createdAt: _c, updatedAt: _u, ...fields } = m;
    return db.catalogModel.create({ data: { ...fields, version: unique("v"), fitsGpuTypes: { connect: [{ id: t.gpuType.id }] } } });
  };

  // Region and catalog changes are platform actions: their events are in the platform chain.
  const platform = { orgId: PLATFORM_CHAIN };

  const MUTATIONS: Record<string, (t: Tenant) => Promise<{ orgId: string }>> = {
    "deployments.create": async (t) => (await deploymentOf(t), { orgId: t.org.id }),
    "deployments.scale": onDeployment((c, i) => c.deployments.scale({ ...i, replicas: 2 })),
    "deployments.stop": onDeployment((c, i) => c.deployments.stop(i)),
    "deployments.start": onDeployment(async (c, i) => {
      await c.deployments.stop(i);
      await db.deployment.update({ where: { id: i.deploymentId }, data: { phase: "STOPPED" } });
      await c.deployments.start(i);
    }),
    "deployments.retry": onDeployment(async (c, i) => {
      await db.deployment.update({ where: { id: i.deploymentId }, data: { phase: "FAILED" } });
      await c.deployments.retry(i);
    }),
    "deployments.update": onDeployment(async (c, i, t) => c.deployments.update({ ...i, catalogModelId: (await newerVersion(t)).id })),
    "deployments.rollback": onDeployment(async (c, i, t) => {
      await c.deployments.update({ ...i, catalogModelId: (await newerVersion(t)).id });
      await c.deployments.rollback(i);
    }),
    "deployments.delete": onDeployment((c, i) => c.deployments.delete(i)),
    "apiKeys.create": async (t) => (await callerFor(t.admin.user.id).apiKeys.create({ orgId: t.org.id, name: "Audited key", scopes: ["inference"], allowedDeploymentIds: [] }), { orgId: t.org.id }),
    "apiKeys.revoke": async (t) => {
      const key = await callerFor(t.admin.user.id).apiKeys.create({ orgId: t.org.id, name: "To revoke", scopes: ["inference"], allowedDeploymentIds: [] });
      await callerFor(t.admin.user.id).apiKeys.revoke({ orgId: t.org.id, apiKeyId: key.id });
      return { orgId: t.org.id };
    },
    "apiKeys.rotate": async (t) => {
      const key = await callerFor(t.admin.user.id).apiKeys.create({ orgId: t.org.id, name: "To rotate", scopes: ["inference"], allowedDeploymentIds: [] });
      await callerFor(t.admin.user.id).apiKeys.rotate({ orgId: t.org.id, apiKeyId: key.id, graceMinutes: 60 });
      return { orgId: t.org.id };
    },
    "apiKeys.update": async (t) => {
      const key = await callerFor(t.admin.user.id).apiKeys.create({ orgId: t.org.id, name: "To update", scopes: ["inference"], allowedDeploymentIds: [] });
      await callerFor(t.admin.user.id).apiKeys.update({ orgId: t.org.id, apiKeyId: key.id, rateLimitRpm: 120 });
      return { orgId: t.org.id };
    },
    "account.signUp": async () => {
      const r = await callerFor(null).account.signUp({ name: "New", email: `${unique("new")}@example.test`, password: "a long enough password", organizationName: "Fresh org" });
      return { orgId: r.org.id };
    },
    "account.createOrganization": async (t) => ({ orgId: (await callerFor(t.ownerId).account.createOrganization({ name: "Second org" })).id }),
    "account.respondToInvitation": async (t) => {
      const invitee = await db.user.create({ data: { email: t.invitation.email, name: "Invitee" } });
      await callerFor(invitee.id).account.respondToInvitation({ invitationId: t.invitation.id, accept: true });
      return { orgId: t.org.id };
    },
    "organization.rename": async (t) => (await callerFor(t.ownerId).organization.rename({ orgId: t.org.id, name: "Renamed org" }), { orgId: t.org.id }),
    "organization.invite": async (t) => (await callerFor(t.admin.user.id).organization.invite({ orgId: t.org.id, email: `${unique("inv")}@example.test`, role: "VIEWER" }), { orgId: t.org.id }),
    "organization.revokeInvitation": async (t) => {
      const inv = await callerFor(t.ownerId).organization.invite({ orgId: t.org.id, email: `${unique("rev")}@example.test`, role: "MEMBER" });
      await callerFor(t.ownerId).organization.revokeInvitation({ orgId: t.org.id, invitationId: inv.id });
      return { orgId: t.org.id };
    },
    "organization.changeRole": async (t) => (await callerFor(t.ownerId).organization.changeRole({ orgId: t.org.id, membershipId: t.viewer.membership.id, role: "MEMBER" }), { orgId: t.org.id }),
    "organization.removeMember": async (t) => (await callerFor(t.ownerId).organization.removeMember({ orgId: t.org.id, membershipId: t.member.membership.id }), { orgId: t.org.id }),
    "quotas.request": async (t) => (await pendingRequest(t), { orgId: t.org.id }),
    "quotas.cancelRequest": async (t) => {
      const request = await pendingRequest(t);
      await callerFor(t.admin.user.id).quotas.cancelRequest({ orgId: t.org.id, requestId: request.id });
      return { orgId: t.org.id };
    },
    "admin.createRegion": async (t) => (await platformAdmin.admin.createRegion(regionForm(t.gpuType.id)), platform),
    "admin.updateRegion": async (t) => {
      const form = regionForm(t.gpuType.id);
      const region = await platformAdmin.admin.createRegion(form);
      await platformAdmin.admin.updateRegion({ ...form, regionId: region.id, name: "Audit region, renamed" });
      return platform;
    },
    "admin.setRegionStatus": async () => {
      const { region } = await gpuRegionFixture();
      await platformAdmin.admin.setRegionStatus({ regionId: region.id, status: "MAINTENANCE", reason: "Audit test" });
      return platform;
    },
    "admin.createModel": async (t) => (await platformAdmin.admin.createModel(modelForm(t.gpuType.id)), platform),
    "admin.updateModel": async (t) => {
      const form = modelForm(t.gpuType.id);
      const model = await platformAdmin.admin.createModel(form);
      await platformAdmin.admin.updateModel({ ...form, modelId: model.id, contextLength: 16384 });
      return platform;
    },
    "admin.setModelStatus": async (t) => {
      const model = await platformAdmin.admin.createModel(modelForm(t.gpuType.id));
      await platformAdmin.admin.setModelStatus({ modelId: model.id, status: "DEPRECATED" });
      return platform;
    },
    // Quota and organisation changes are in the organisation's chain, where its members see them.
    "admin.setQuota": async (t) => {
      const { region, gpuType } = await gpuRegionFixture();
      await platformAdmin.admin.setQuota({ orgId: t.org.id, regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 4 });
      return { orgId: t.org.id };
    },
    "admin.decideQuotaRequest": async (t) => {
      const request = await pendingRequest(t);
      await platformAdmin.admin.decideQuotaRequest({ requestId: request.id, decision: "approve" });
      return { orgId: t.org.id };
    },
    "admin.setOrganizationStatus": async () => {
      // Not t: the other cases need it active.
      const org = await createOrganization("To suspend");
      await platformAdmin.admin.setOrganizationStatus({ orgId: org.id, status: "SUSPENDED", reason: "Audit test" });
      return { orgId: org.id };
    },
  };

  const mutations = listProcedures()
    .filter((p) => p.type === "mutation")
    .map((p) => p.path);

  it("has an audited case for every mutation", () => {
    expect(mutations.filter((m) => !(m in MUTATIONS))).toEqual([]);
  });

  for (const path of mutations) {
    it(`${path} writes an audit event in the organisation's chain`, async () => {
      const run = MUTATIONS[path];
      expect(run, `no case for ${path}`).toBeDefined();
      const before = await db.auditEvent.count();
      const { orgId } = await run(t);
      const events = await db.auditEvent.findMany({ where: { chain: orgId }, orderBy: { seq: "desc" }, take: 1 });
      expect(await db.auditEvent.count()).toBeGreaterThan(before);
      expect(events[0]?.actorType).toBe("USER");
      expect(await verifyAuditChain(db, orgId)).toMatchObject({ ok: true });
    });
  }
});
