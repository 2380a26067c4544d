/**
 * Evidence per deployment on real parts: region certification details set by a platform admin
 * (validation, names kept consistent, audit-logged), then a deployment run by the real local
 * driver whose evidence — over tRPC and over REST — shows the region, the verified digest per
 * replica, the residency verdict, the guardrails in force, and audit events whose inclusion
 * proofs check against the signed checkpoint's root.
 */
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chainOf, createCheckpoint } from "@/server/audit/log";
import { fromHex, verifyInclusion } from "@/server/audit/merkle";
import { db } from "@/server/db";
import { certificationsEvidence } from "@/server/services/evidence";
import { TINY_MODEL_SHA256 } from "@/workers/model-server/tiny-model";
import { localDeploymentFixture, reconcileUntil } from "../deployment-fixtures";
import { addMember, callerFor, createUser, refusal, unique } from "../helpers";
import { call, issueKey, startRestServer, type RestServer } from "../rest-fixtures";

let f: Awaited<ReturnType<typeof localDeploymentFixture>>;
let admin: ReturnType<typeof callerFor>;
let rest: RestServer;
let deploymentId: string;

const SNC = { name: "SecNumCloud", issuer: "ANSSI", scope: "IaaS qualification (SecNumCloud 3.2)", validFrom: "2024-01-01", validUntil: "2099-12-31" };
const EXPIRED = { name: "C5", issuer: "BSI", scope: null, validFrom: "2020-01-01", validUntil: "2021-01-01" };

beforeAll(async () => {
  f = await localDeploymentFixture({ quota: 2, capacity: 4 });
  admin = callerFor((await createUser("platform-admin", { platformAdmin: true })).id);
  rest = await startRestServer();
});

afterAll(async () => {
  for (const s of f.driver.recorded()) await f.driver.delete(s.replicaId);
  rmSync(f.stateDir, { recursive: true, force: true });
  await rest.close();
});

/** The admin form's fields for the fixture's region, as the admin list returns them. */
async function regionForm() {
  const r = (await admin.admin.regions()).find((x) => x.id === f.region.id)!;
  return {
    regionId: r.id,
    code: r.code,
    name: r.name,
    provider: r.provider,
    country: r.country,
    city: r.city,
    jurisdiction: r.jurisdiction,
    certifications: r.certifications,
    certificationDetails: r.certificationDetails,
    sovereigntyLevel: r.sovereigntyLevel,
    extraterritorialExposure: r.extraterritorialExposure,
    exposureNote: r.exposureNote,
    onPremises: r.onPremises,
    driverKind: r.driverKind,
    driverEndpoint: r.driverEndpoint,
    carbonIntensityGco2Kwh: r.carbonIntensityGco2Kwh,
    capacities: r.capacities.map((c) => ({ gpuTypeId: c.gpuType.id, totalGpus: c.totalGpus, priceCentsPerGpuHour: c.priceCentsPerGpuHour })),
  };
}

describe("region certification details and sovereignty level (platform admins)", () => {
  it("are saved with the names kept consistent, audit-logged, and a save without change writes nothing", async () => {
    const form = await regionForm();
    expect(form.certifications).toEqual(["HDS"]);
    const saved = await admin.admin.updateRegion({ ...form, certificationDetails: [SNC, EXPIRED], sovereigntyLevel: "SEAL_3" });
    // Detailed names are added to the names residency policies match.
    expect(saved.certifications).toEqual(["HDS", "SecNumCloud", "C5"]);
    expect(saved.certificationDetails).toEqual([SNC, EXPIRED]);
    expect(saved.sovereigntyLevel).toBe("SEAL_3");
    const event = await db.auditEvent.findFirstOrThrow({ where: { targetId: f.region.id, action: "region.updated" }, orderBy: { seq: "desc" } });
    expect(event.after).toMatchObject({ certifications: ["HDS", "SecNumCloud", "C5"], certificationDetails: [SNC, EXPIRED], sovereigntyLevel: "SEAL_3" });
    expect(event.before).toMatchObject({ certificationDetails: [], sovereigntyLevel: null });

    const events = await db.auditEvent.count({ where: { targetId: f.region.id } });
    await admin.admin.updateRegion(await regionForm());
    expect(await db.auditEvent.count({ where: { targetId: f.region.id } })).toBe(events);
  });

  it("refuses bad details with precise messages, on the field", async () => {
    const form = await regionForm();
    const cases: [Record<string, unknown>, string, string][] = [
      [{ certificationDetails: [{ ...SNC, issuer: " " }] }, "certificationDetails.0.issuer", "Name who issued it, e.g. ANSSI"],
      [{ certificationDetails: [{ ...SNC, validFrom: "2024-02-30" }] }, "certificationDetails.0.validFrom", "Enter the start of validity as a date, e.g. 2025-01-31"],
      [{ certificationDetails: [{ ...SNC, validUntil: "2023-12-31" }] }, "certificationDetails.0.validUntil", "The end of validity must be after its start"],
      [{ certificationDetails: [SNC, { ...SNC, name: "secnumcloud", issuer: "Someone else" }] }, "certificationDetails.1.name", "SecNumCloud is already detailed in row 1; detail each certification once"],
      [{ sovereigntyLevel: "SEAL_5" }, "sovereigntyLevel", "The sovereignty level must be one of SEAL-0, SEAL-1, SEAL-2, SEAL-3, SEAL-4"],
    ];
    for (const [patch, field, message] of cases) {
      const r = await refusal(() => admin.admin.updateRegion({ ...form, ...patch } as Parameters<typeof admin.admin.updateRegion>[0]));
      expect(r.code, JSON.stringify(patch)).toBe("BAD_REQUEST");
      expect(JSON.stringify((r.fieldErrors as Record<string, unknown>)[field] ?? null), `${field}: ${JSON.stringify(r)}`).toContain(message);
    }
  });

  it("says per certification whether it is valid on a given day", () => {
    const region = { certifications: ["HDS", "SecNumCloud", "C5"], certificationDetails: [SNC, EXPIRED, { ...EXPIRED, name: "Future", validFrom: "2030-01-01", validUntil: null }] };
    const at = certificationsEvidence(region, new Date("2026-06-01T12:00:00Z"));
    expect(at.map((c) => [c.name, c.validToday, c.validity])).toEqual([
      ["HDS", null, "no details given"],
      ["SecNumCloud", true, "valid until 2099-12-31"],
      ["C5", false, "expired on 2021-01-01"],
      ["Future", false, "not valid yet (from 2030-01-01)"],
    ]);
  });
});

describe("the evidence of a running deployment", () => {
  beforeAll(async () => {
    const d = await callerFor(f.tenant.ownerId).deployments.create({
      orgId: f.tenant.org.id,
      name: unique("evidence"),
      catalogModelId: f.model.id,
      regionId: f.region.id,
      gpuTypeId: f.slot.id,
      replicas: 1,
      minReplicas: 1,
      maxReplicas: 1,
      dataClassification: "CONFIDENTIAL",
    });
    deploymentId = d.id;
    await reconcileUntil(d.id, f.driver, (_r, phase) => phase === "RUNNING");
    await createCheckpoint(chainOf(f.tenant.org.id));
  });

  it("shows the region, the verified digest per replica, the residency verdict and the guardrails in force (a MEMBER may read it)", async () => {
    const member = await addMember(f.tenant.org.id, "MEMBER");
    const e = await callerFor(member.user.id).evidence.deployment({ orgId: f.tenant.org.id, deploymentId });
    expect(e.region).toMatchObject({ id: f.region.id, operator: "tests", jurisdiction: "FR", onPremises: true, extraterritorialExposure: false, sovereigntyLevel: "SEAL_3" });
    expect(e.region.certifications).toContainEqual({ ...SNC, detailed: true, validToday: true, validity: "valid until 2099-12-31" });
    expect(e.region.certifications).toContainEqual(expect.objectContaining({ name: "C5", validToday: false }));
    expect(e.model).toMatchObject({ license: "Apache-2.0", openWeights: true, openData: true, origin: "tests", catalogSha256: TINY_MODEL_SHA256, artifactStatus: "verified" });
    expect(e.model.replicas[0]).toMatchObject({ state: "ready", status: "verified", sha256: TINY_MODEL_SHA256, expectedSha256: TINY_MODEL_SHA256, checkedBy: "local-driver" });
    expect(e.model.replicas[0]!.checkedAt).toBeInstanceOf(Date);
    expect(e.residency).toMatchObject({ dataClassification: "CONFIDENTIAL", status: expect.stringMatching(/^(compliant|non_compliant)$/), policy: expect.stringMatching(/^(applied|none)$/) });
    expect(e.guardrails.policy?.rules).toBeDefined();
    expect(e.guardrails.verdicts.period).toBe("30d");
    expect(e.guardrails.verdicts.totals.checked).toBe(0);
  });

  it("lists the deployment's audit events with inclusion proofs that check against the signed checkpoint's root", async () => {
    const e = await callerFor(f.tenant.ownerId).evidence.deployment({ orgId: f.tenant.org.id, deploymentId });
    expect(e.audit.checkpoint).not.toBeNull();
    const actions = e.audit.events.map((x) => x.action);
    expect(actions).toContain("deployment.created");
    const root = fromHex(e.audit.checkpoint!.rootHash);
    const proved = e.audit.events.filter((x) => x.proof);
    expect(proved.length).toBeGreaterThan(0);
    for (const event of proved) {
      const p = event.proof!;
      expect(p.leafIndex).toBe(event.seq - 1);
      expect(verifyInclusion(fromHex(p.leafHash), p.leafIndex, p.treeSize, p.path.map(fromHex), root)).toBe(true);
      // A proof is of this event: the leaf is the hash of its own hash.
      expect(verifyInclusion(fromHex(p.leafHash), p.leafIndex, p.treeSize, p.path.map(fromHex), fromHex("00".repeat(32)))).toBe(false);
    }
    expect(e.audit.events.every((x) => x.seq <= e.audit.checkpoint!.treeSize || x.proof === null)).toBe(true);
  });

  it("is served over REST as JSON, and another organisation's deployment is not found", async () => {
    // Read keys act as viewers; the evidence (audit events included) is for members and above: a manage key.
    const key = await issueKey(f.tenant.org.id, f.tenant.ownerId, ["read", "manage"]);
    const ok = await call(rest, "GET", `/orgs/${f.tenant.org.id}/deployments/${deploymentId}/evidence`, { auth: key.key });
    expect(ok.status).toBe(200);
    expect(ok.body.model.replicas[0]).toMatchObject({ status: "verified", sha256: TINY_MODEL_SHA256 });
    expect(ok.body.region.certifications).toContainEqual(expect.objectContaining({ name: "SecNumCloud", issuer: "ANSSI" }));
    const missing = await call(rest, "GET", `/orgs/${f.tenant.org.id}/deployments/${unique("nope")}/evidence`, { auth: key.key });
    expect(missing.status).toBe(404);
  });
});
