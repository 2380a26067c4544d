/**
 * Residency policies that tenants own (docs/residency.md): set, replaced and removed by owners and
 * admins over tRPC and REST, validated with precise messages, audit-logged with before and after
 * (an unchanged save writes nothing), previewed without writing, and applied by real gateways —
 * a spawned gateway process, and one whose poll is turned off so that only the NOTIFY can bring
 * the change — on real PostgreSQL and real HTTP.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { createGateway, type Gateway } from "@/server/gateway/server";
import { RESTRICTED_WITHOUT_POLICY } from "@/server/services/policy";
import { deleteResidencyPolicy, deploymentCompliance, putResidencyPolicy } from "@/server/services/residency";
import { createApiKey } from "../deployment-fixtures";
import { postChat, registerDeployment, spawnGateway, startFastUpstream, waitFor, waitForModel, type FakeUpstream, type GatewayProcess } from "../gateway-fixtures";
import { callerFor, createTenant, databaseDigest, gpuRegionFixture, refusal, type Tenant } from "../helpers";
import { call, issueKey, startRestServer, type RestServer } from "../rest-fixtures";

const open = { allowedJurisdictions: [] as string[], requiredCertifications: [] as string[], allowedRegionIds: [] as string[], allowExtraterritorial: true };
const actorOf = (t: Tenant) => ({ type: "USER" as const, id: t.ownerId, label: "owner@example.test" });

let t: Tenant;
let upstream: FakeUpstream;
let rest: RestServer;
let spoolRoot: string;

beforeAll(async () => {
  t = await createTenant("residency");
  upstream = await startFastUpstream();
  rest = await startRestServer();
  spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-residency-"));
});

afterAll(async () => {
  await upstream?.close();
  await rest?.close();
  rmSync(spoolRoot, { recursive: true, force: true });
});

describe("residency policies, the management side", () => {
  it("an admin creates, replaces and removes a policy; each change is audited with before and after; an unchanged save writes nothing", async () => {
    const admin = callerFor(t.admin.user.id);
    const orgId = t.org.id;
    const created = await admin.residency.put({ orgId, dataClassification: "CONFIDENTIAL", allowedJurisdictions: ["fr", "EU"], requiredCertifications: ["SecNumCloud"], allowedRegionIds: [t.region.id], allowExtraterritorial: false });
    expect(created).toMatchObject({ orgId, dataClassification: "CONFIDENTIAL", allowedJurisdictions: ["FR", "EU"], requiredCertifications: ["SecNumCloud"], allowedRegionIds: [t.region.id], allowExtraterritorial: false });
    const first = await db.auditEvent.findFirstOrThrow({ where: { chain: orgId, action: "residency_policy.set", targetId: created.id }, orderBy: { seq: "desc" } });
    expect(first.before).toBeNull();
    expect(first.after).toEqual({
      dataClassification: "CONFIDENTIAL",
      allowedJurisdictions: ["FR", "EU"],
      requiredCertifications: ["SecNumCloud"],
      allowedRegions: [{ id: t.region.id, code: t.region.code }],
      allowExtraterritorial: false,
    });

    // The same rule, reordered and spelled otherwise: nothing written, not even an audit event.
    const digest = await databaseDigest();
    const same = await admin.residency.put({ orgId, dataClassification: "CONFIDENTIAL", allowedJurisdictions: ["EU", "FR"], requiredCertifications: ["secnumcloud"], allowedRegionIds: [t.region.id], allowExtraterritorial: false });
    expect(same.updatedAt).toEqual(created.updatedAt);
    expect(await databaseDigest()).toBe(digest);

    const replaced = await admin.residency.put({ orgId, dataClassification: "CONFIDENTIAL", allowedJurisdictions: ["DE"], requiredCertifications: [], allowedRegionIds: [], allowExtraterritorial: false });
    expect(replaced.id).toBe(created.id);
    const second = await db.auditEvent.findFirstOrThrow({ where: { chain: orgId, action: "residency_policy.set", targetId: created.id }, orderBy: { seq: "desc" } });
    expect(second.seq).toBeGreaterThan(first.seq);
    expect(second.before).toMatchObject({ allowedJurisdictions: ["FR", "EU"], requiredCertifications: ["SecNumCloud"] });
    expect(second.after).toMatchObject({ allowedJurisdictions: ["DE"], requiredCertifications: [], allowedRegions: [] });

    expect(await admin.residency.remove({ orgId, dataClassification: "CONFIDENTIAL" })).toEqual({ dataClassification: "CONFIDENTIAL", removed: true });
    const removed = await db.auditEvent.findFirstOrThrow({ where: { chain: orgId, action: "residency_policy.removed", targetId: created.id } });
    expect(removed.before).toMatchObject({ dataClassification: "CONFIDENTIAL", allowedJurisdictions: ["DE"] });
    expect(removed.after).toBeNull();
    expect(await db.residencyPolicy.findUnique({ where: { orgId_dataClassification: { orgId, dataClassification: "CONFIDENTIAL" } } })).toBeNull();
    expect(await refusal(() => admin.residency.remove({ orgId, dataClassification: "CONFIDENTIAL" }))).toMatchObject({ code: "NOT_FOUND", message: expect.stringContaining("CONFIDENTIAL") });
  });

  it("members and viewers read; only owners and admins change", async () => {
    const member = callerFor(t.member.user.id);
    const viewer = callerFor(t.viewer.user.id);
    expect(await refusal(() => member.residency.put({ orgId: t.org.id, dataClassification: "PUBLIC", ...open }))).toMatchObject({ code: "FORBIDDEN" });
    expect(await refusal(() => viewer.residency.remove({ orgId: t.org.id, dataClassification: "RESTRICTED" }))).toMatchObject({ code: "FORBIDDEN" });
    expect((await member.compliance.residencyPolicies({ orgId: t.org.id })).map((p) => p.dataClassification)).toContain("RESTRICTED");
    expect(await member.residency.impact({ orgId: t.org.id, dataClassification: "PUBLIC", policy: null })).toMatchObject({ dataClassification: "PUBLIC" });
    expect(Array.isArray(await member.residency.compliance({ orgId: t.org.id }))).toBe(true);
    await callerFor(t.ownerId).residency.put({ orgId: t.org.id, dataClassification: "PUBLIC", ...open });
    await callerFor(t.ownerId).residency.remove({ orgId: t.org.id, dataClassification: "PUBLIC" });
  });

  it("refuses bad rules with precise messages, and writes nothing", async () => {
    const admin = callerFor(t.admin.user.id);
    const orgId = t.org.id;
    const digest = await databaseDigest();
    const put = (rule: Partial<typeof open>) => refusal(() => admin.residency.put({ orgId, dataClassification: "INTERNAL", ...open, ...rule }));
    expect(await put({ allowedJurisdictions: ["FR", "XX"] })).toMatchObject({
      code: "BAD_REQUEST",
      fieldErrors: { "allowedJurisdictions.1": ['"XX" is not an ISO 3166-1 alpha-2 country code nor EU: use e.g. FR, DE or EU'] },
    });
    expect(await put({ allowedJurisdictions: ["FRA"] })).toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining('"FRA" is not an ISO 3166-1 alpha-2') });
    expect(await put({ allowedJurisdictions: ["DE", "de"] })).toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("The jurisdiction DE is listed twice") });
    expect(await put({ requiredCertifications: ["ISO 27001", "iso-27001"] })).toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("The certification iso-27001 is listed twice") });
    expect(await put({ requiredCertifications: ["  "] })).toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("A certification name cannot be empty") });
    expect(await put({ requiredCertifications: ["x".repeat(41)] })).toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("at most 40 characters") });
    expect(await put({ allowedRegionIds: [t.region.id, "no-such-region"] })).toMatchObject({
      code: "BAD_REQUEST",
      fieldErrors: { allowedRegionIds: ['No region has the id "no-such-region": choose regions from GET /regions'] },
    });
    expect(await refusal(() => admin.residency.put({ orgId, dataClassification: "SECRET" as never, ...open }))).toMatchObject({ code: "BAD_REQUEST" });
    expect(await databaseDigest()).toBe(digest);
  });

  it("previews which deployments would stop (or start) complying, by name and region, with the reasons, and writes nothing", async () => {
    const tenant = await createTenant("impact");
    const c5 = await gpuRegionFixture({ jurisdiction: "DE", certifications: ["C5", "ISO 27001"] });
    const inFrance = await registerDeployment(tenant, [upstream.url], { dataClassification: "CONFIDENTIAL" });
    const inGermany = await db.deployment.update({
      where: { id: (await registerDeployment(tenant, [upstream.url], { dataClassification: "CONFIDENTIAL" })).id },
      data: { regionId: c5.region.id },
    });
    const member = callerFor(tenant.member.user.id);
    const digest = await databaseDigest();
    const impact = await member.residency.impact({
      orgId: tenant.org.id,
      dataClassification: "CONFIDENTIAL",
      policy: { allowedJurisdictions: [], requiredCertifications: ["SecNumCloud"], allowedRegionIds: [], allowExtraterritorial: false },
    });
    expect(await databaseDigest()).toBe(digest);
    expect(impact).toMatchObject({ dataClassification: "CONFIDENTIAL", currentPolicy: false, proposedPolicy: true, startComplying: [] });
    expect(impact.deployments.map((d) => d.deploymentName).sort()).toEqual([inFrance.name, inGermany.name].sort());
    expect(impact.stopComplying).toEqual([
      {
        deploymentId: inGermany.id,
        deploymentName: inGermany.name,
        region: { id: c5.region.id, code: c5.region.code, name: c5.region.name },
        current: { allowed: true, reasons: [] },
        proposed: { allowed: false, reasons: ["missing certification SecNumCloud"] },
        change: "stops_complying",
      },
    ]);
    expect(impact.deployments.find((d) => d.deploymentId === inFrance.id)).toMatchObject({ change: "still_compliant" });

    // Saved: the German deployment is flagged; removing the policy previews it complying again.
    await putResidencyPolicy(tenant.org.id, actorOf(tenant), "CONFIDENTIAL", { allowedJurisdictions: [], requiredCertifications: ["SecNumCloud"], allowedRegionIds: [], allowExtraterritorial: false });
    const compliance = await member.residency.compliance({ orgId: tenant.org.id });
    expect(compliance.find((d) => d.deploymentId === inGermany.id)).toEqual({
      deploymentId: inGermany.id,
      deploymentName: inGermany.name,
      dataClassification: "CONFIDENTIAL",
      regionId: c5.region.id,
      regionCode: c5.region.code,
      status: "non_compliant",
      policy: "applied",
      reasons: ["missing certification SecNumCloud"],
      extraterritorialExposure: false,
    });
    expect(compliance.find((d) => d.deploymentId === inFrance.id)).toMatchObject({ status: "compliant", reasons: [] });
    const removal = await member.residency.impact({ orgId: tenant.org.id, dataClassification: "CONFIDENTIAL", policy: null });
    expect(removal.startComplying.map((d) => d.deploymentId)).toEqual([inGermany.id]);
    expect(await refusal(() => member.residency.impact({ orgId: tenant.org.id, dataClassification: "CONFIDENTIAL", policy: { ...open, allowedRegionIds: ["gone"] } }))).toMatchObject({
      code: "BAD_REQUEST",
      message: 'No region has the id "gone": choose regions from GET /regions',
    });
  });

  it("RESTRICTED data is refused everywhere until a policy exists: the deployment is flagged with the reason", async () => {
    const tenant = await createTenant("restricted");
    const d = await registerDeployment(tenant, [upstream.url], { dataClassification: "RESTRICTED" });
    // The fixture tenant has a RESTRICTED policy (FR + SecNumCloud), which its region meets.
    expect((await deploymentCompliance(tenant.org.id)).find((c) => c.deploymentId === d.id)).toMatchObject({ status: "compliant", policy: "applied" });
    await deleteResidencyPolicy(tenant.org.id, actorOf(tenant), "RESTRICTED");
    expect((await deploymentCompliance(tenant.org.id)).find((c) => c.deploymentId === d.id)).toMatchObject({ status: "non_compliant", policy: "none", reasons: [RESTRICTED_WITHOUT_POLICY] });
    // Other classes without a policy stay unrestricted.
    expect((await deploymentCompliance(tenant.org.id)).find((c) => c.deploymentId === tenant.deployment.id)).toMatchObject({ dataClassification: "INTERNAL", status: "compliant", policy: "none" });
  });
});

describe("residency policies over REST", () => {
  it("PUT, impact, compliance and DELETE with a manage key; bad input is a precise 400; another organisation's policies are out of reach", async () => {
    const tenant = await createTenant("residency-rest");
    const other = await createTenant("residency-rest-other");
    const key = await issueKey(tenant.org.id, tenant.ownerId, ["manage"], "residency program");
    const base = `/orgs/${tenant.org.id}/residency-policies`;
    const put = await call(rest, "PUT", `${base}/INTERNAL`, { auth: key.key, body: { allowedJurisdictions: ["EU"], requiredCertifications: ["SecNumCloud"], allowExtraterritorial: false } });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    expect(put.body).toMatchObject({ dataClassification: "INTERNAL", allowedJurisdictions: ["EU"], requiredCertifications: ["SecNumCloud"], allowedRegionIds: [] });
    expect(await db.auditEvent.findFirst({ where: { chain: tenant.org.id, action: "residency_policy.set", actorType: "API_KEY", actorId: key.id } })).not.toBeNull();

    const list = await call(rest, "GET", base, { auth: key.key });
    expect(list.body.map((p: { dataClassification: string }) => p.dataClassification).sort()).toEqual(["INTERNAL", "RESTRICTED"]);

    const impact = await call(rest, "POST", `${base}/INTERNAL/impact`, { auth: key.key, body: { policy: { allowedJurisdictions: ["DE"], requiredCertifications: [], allowedRegionIds: [], allowExtraterritorial: false } } });
    expect(impact.status, JSON.stringify(impact.body)).toBe(200);
    expect(impact.body.stopComplying).toEqual([expect.objectContaining({ deploymentId: tenant.deployment.id, proposed: { allowed: false, reasons: ["jurisdiction FR is not allowed for INTERNAL data"] } })]);

    // Not read as the deployment "compliance".
    const compliance = await call(rest, "GET", `/orgs/${tenant.org.id}/deployments/compliance`, { auth: key.key });
    expect(compliance.status, JSON.stringify(compliance.body)).toBe(200);
    expect(compliance.body).toEqual([expect.objectContaining({ deploymentId: tenant.deployment.id, status: "compliant", policy: "applied" })]);

    const bad = await call(rest, "PUT", `${base}/INTERNAL`, { auth: key.key, body: { allowedJurisdictions: ["ZZ"], allowedRegionIds: [], allowExtraterritorial: false } });
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ param: "allowedJurisdictions.0", message: expect.stringContaining('"ZZ" is not an ISO 3166-1 alpha-2 country code') });
    const unknownRegion = await call(rest, "PUT", `${base}/INTERNAL`, { auth: key.key, body: { allowedRegionIds: ["reg_unknown"], allowExtraterritorial: false } });
    expect(unknownRegion.status).toBe(400);
    expect(unknownRegion.body.error).toMatchObject({ param: "allowedRegionIds", message: expect.stringContaining('"reg_unknown"') });

    const foreign = await call(rest, "DELETE", `/orgs/${other.org.id}/residency-policies/RESTRICTED`, { auth: key.key });
    expect([403, 404]).toContain(foreign.status);
    expect(await db.residencyPolicy.findUnique({ where: { orgId_dataClassification: { orgId: other.org.id, dataClassification: "RESTRICTED" } } })).not.toBeNull();

    const removed = await call(rest, "DELETE", `${base}/INTERNAL`, { auth: key.key });
    expect(removed.status).toBe(200);
    expect(removed.body).toEqual({ dataClassification: "INTERNAL", removed: true });
    expect((await call(rest, "DELETE", `${base}/INTERNAL`, { auth: key.key })).status).toBe(404);
  });
});

/** The refusal of `dataClass` to `model`, or null once it is served. */
async function refusalOf(gatewayUrl: string, key: string, model: string, dataClass: string) {
  const r = await postChat(gatewayUrl, key, model, { "X-Data-Classification": dataClass });
  return r.status === 200 ? null : { status: r.status, code: r.json.error?.code, message: r.json.error?.message ?? r.text };
}

describe("gateways apply a saved policy at once", () => {
  let gw: GatewayProcess;
  let tenant: Tenant;
  let key: string;

  beforeAll(async () => {
    tenant = await createTenant("residency-gateway");
    key = (await createApiKey(tenant.org.id, tenant.ownerId)).key;
    gw = await spawnGateway({ spoolDir: path.join(spoolRoot, "spawned") });
  });
  afterAll(() => gw?.stop());

  it("a spawned gateway refuses CONFIDENTIAL data once the policy is saved through the service, naming the reasons, and serves it again once it is removed", async () => {
    const model = (await registerDeployment(tenant, [upstream.url], { dataClassification: "CONFIDENTIAL" })).name;
    await waitForModel(gw.url, key, model);
    expect(await refusalOf(gw.url, key, model, "CONFIDENTIAL")).toBeNull();

    const savedAt = Date.now();
    await putResidencyPolicy(tenant.org.id, actorOf(tenant), "CONFIDENTIAL", { allowedJurisdictions: ["DE"], requiredCertifications: ["HDS"], allowedRegionIds: [], allowExtraterritorial: false });
    await waitFor(async () => (await refusalOf(gw.url, key, model, "CONFIDENTIAL")) !== null, 10_000, 10);
    console.log(`residency: a spawned gateway refused CONFIDENTIAL ${Date.now() - savedAt} ms after the save`);
    expect(await refusalOf(gw.url, key, model, "CONFIDENTIAL")).toEqual({
      status: 403,
      code: "residency_policy_violation",
      message: expect.stringMatching(/jurisdiction FR is not allowed for CONFIDENTIAL data; missing certification HDS/),
    });
    // Another class of the same deployment is not affected.
    expect(await refusalOf(gw.url, key, model, "INTERNAL")).toBeNull();

    await deleteResidencyPolicy(tenant.org.id, actorOf(tenant), "CONFIDENTIAL");
    await waitFor(async () => (await refusalOf(gw.url, key, model, "CONFIDENTIAL")) === null, 10_000, 10);
  });

  it("RESTRICTED data: served under the organisation's policy, refused everywhere once it is removed, with the reason", async () => {
    const model = (await registerDeployment(tenant, [upstream.url], { dataClassification: "RESTRICTED" })).name;
    await waitForModel(gw.url, key, model);
    expect(await refusalOf(gw.url, key, model, "RESTRICTED")).toBeNull();
    await deleteResidencyPolicy(tenant.org.id, actorOf(tenant), "RESTRICTED");
    await waitFor(async () => (await refusalOf(gw.url, key, model, "RESTRICTED")) !== null, 10_000, 10);
    expect(await refusalOf(gw.url, key, model, "RESTRICTED")).toEqual({ status: 403, code: "residency_policy_violation", message: expect.stringContaining(RESTRICTED_WITHOUT_POLICY) });
    // The deployment still serves the lower classes, which have no policy.
    expect(await refusalOf(gw.url, key, model, "CONFIDENTIAL")).toBeNull();
  });
});

describe("the NOTIFY alone", () => {
  let gateway: Gateway;
  afterAll(() => gateway?.close());

  it("brings a saved policy and its removal to a gateway whose poll and full refresh are turned off", async () => {
    const tenant = await createTenant("residency-notify");
    const key = (await createApiKey(tenant.org.id, tenant.ownerId)).key;
    const model = (await registerDeployment(tenant, [upstream.url], { dataClassification: "INTERNAL" })).name;
    // Polls every 10 minutes: within this test, only the NOTIFY can bring a change.
    gateway = createGateway({ databaseUrl: process.env.DATABASE_URL!, port: 0, spoolDir: path.join(spoolRoot, "notify"), pollMs: 600_000, fullRefreshMs: 600_000, log: () => {} });
    await gateway.listen();
    await waitForModel(gateway.url, key, model);
    expect(await refusalOf(gateway.url, key, model, "INTERNAL")).toBeNull();

    await putResidencyPolicy(tenant.org.id, actorOf(tenant), "INTERNAL", { allowedJurisdictions: ["FI"], requiredCertifications: [], allowedRegionIds: [], allowExtraterritorial: false });
    await waitFor(async () => (await refusalOf(gateway.url, key, model, "INTERNAL")) !== null, 10_000, 10);
    expect(await refusalOf(gateway.url, key, model, "INTERNAL")).toMatchObject({ status: 403, message: expect.stringContaining("jurisdiction FR is not allowed for INTERNAL data") });

    await deleteResidencyPolicy(tenant.org.id, actorOf(tenant), "INTERNAL");
    await waitFor(async () => (await refusalOf(gateway.url, key, model, "INTERNAL")) === null, 10_000, 10);
  });
});
