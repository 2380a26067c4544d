/**
 * Regions and the model catalog, administered by platform admins and seen by tenants: precise
 * refusals on the field at fault (nothing written), residency verdicts, and the audit trail.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { reserveGpus } from "@/server/services/allocation";
import { evaluateResidency, RESTRICTED_WITHOUT_POLICY, type ResidencyPolicyRule } from "@/server/services/policy";
import { callerFor, createOrganization, createTenant, createUser, databaseDigest, gpuRegionFixture, outcome, refusal, unique } from "../helpers";

let admin: ReturnType<typeof callerFor>;
let h100: { id: string; code: string };
let l40s: { id: string; code: string };

beforeAll(async () => {
  admin = callerFor((await createUser("platform-admin", { platformAdmin: true })).id);
  h100 = await db.gpuType.create({ data: { code: unique("H100"), name: "NVIDIA H100 80GB", vendor: "NVIDIA", memoryGb: 80 } });
  l40s = await db.gpuType.create({ data: { code: unique("L40S"), name: "NVIDIA L40S 48GB", vendor: "NVIDIA", memoryGb: 48 } });
});

function regionForm(overrides: Record<string, unknown> = {}) {
  return {
    code: unique("fr-par-snc"),
    name: "Paris SecNumCloud",
    provider: "3DS Outscale",
    country: "fr",
    city: "Paris",
    jurisdiction: "FR",
    certifications: ["SecNumCloud", "HDS", "ISO 27001"],
    extraterritorialExposure: false,
    onPremises: false,
    driverKind: "KUBERNETES" as const,
    driverEndpoint: "https://k8s.fr-par.example.internal:6443",
    carbonIntensityGco2Kwh: 32,
    capacities: [
      { gpuTypeId: h100.id, totalGpus: 32, priceCentsPerGpuHour: 310 },
      { gpuTypeId: l40s.id, totalGpus: 24, priceCentsPerGpuHour: 155 },
    ],
    ...overrides,
  };
}

const lastPlatformEvent = () => db.auditEvent.findFirstOrThrow({ where: { chain: "platform" }, orderBy: { seq: "desc" } });

describe("regions (platform admins)", () => {
  it("creates a region with its capacities and prices, audited in the platform chain", async () => {
    const form = regionForm();
    const region = await admin.admin.createRegion(form);
    expect(region).toMatchObject({ code: form.code, country: "FR", status: "ACTIVE", exposureNote: null });
    expect(region.capacities.map((c) => [c.gpuType.code, c.totalGpus, c.priceCentsPerGpuHour, c.allocatedGpus]).sort()).toEqual(
      [
        [h100.code, 32, 310, 0],
        [l40s.code, 24, 155, 0],
      ].sort(),
    );
    expect(await lastPlatformEvent()).toMatchObject({ orgId: null, action: "region.created", targetId: region.id, after: expect.objectContaining({ code: form.code }) });
    expect((await admin.admin.regions()).some((r) => r.id === region.id)).toBe(true);
  });

  it("refuses bad input with the message on the field at fault, and writes nothing", async () => {
    const existing = await admin.admin.createRegion(regionForm());
    const cases: { input: ReturnType<typeof regionForm>; code: string; field: string; message: string }[] = [
      {
        input: regionForm({ capacities: [{ gpuTypeId: h100.id, totalGpus: -4, priceCentsPerGpuHour: 310 }] }),
        code: "BAD_REQUEST",
        field: "capacities.0.totalGpus",
        message: "The number of GPUs cannot be negative",
      },
      {
        input: regionForm({ capacities: [{ gpuTypeId: h100.id, totalGpus: 4, priceCentsPerGpuHour: 310 }, { gpuTypeId: l40s.id, totalGpus: 4, priceCentsPerGpuHour: 0 }] }),
        code: "BAD_REQUEST",
        field: "capacities.1.priceCentsPerGpuHour",
        message: "The price per GPU-hour must be more than 0",
      },
      {
        input: regionForm({ capacities: [{ gpuTypeId: "no-such-gpu", totalGpus: 4, priceCentsPerGpuHour: 310 }] }),
        code: "NOT_FOUND",
        field: "capacities.0.gpuTypeId",
        message: "GPU type was not found",
      },
      {
        input: regionForm({ capacities: [{ gpuTypeId: h100.id, totalGpus: 4, priceCentsPerGpuHour: 310 }, { gpuTypeId: h100.id, totalGpus: 8, priceCentsPerGpuHour: 300 }] }),
        code: "BAD_REQUEST",
        field: "capacities.1.gpuTypeId",
        message: "This GPU type is already listed in row 1; list each GPU type once",
      },
      { input: regionForm({ code: existing.code }), code: "CONFLICT", field: "code", message: `A region with the code ${existing.code} already exists` },
      { input: regionForm({ code: "Paris SNC" }), code: "BAD_REQUEST", field: "code", message: "Use lower-case letters, digits and hyphens, e.g. fr-par-snc" },
      { input: regionForm({ country: "France" }), code: "BAD_REQUEST", field: "country", message: "Use the two-letter ISO country code, e.g. FR" },
      { input: regionForm({ driverEndpoint: "not a url" }), code: "BAD_REQUEST", field: "driverEndpoint", message: "Enter a URL, e.g. https://slurm.example.org:6820" },
      { input: regionForm({ carbonIntensityGco2Kwh: -1 }), code: "BAD_REQUEST", field: "carbonIntensityGco2Kwh", message: "Carbon intensity cannot be negative" },
    ];
    const before = await databaseDigest();
    for (const c of cases) {
      const refused = await refusal(() => admin.admin.createRegion(c.input));
      expect(refused.code, c.field).toBe(c.code);
      expect(refused.message, c.field).toMatch(new RegExp(`${c.message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`));
      expect(refused.fieldErrors[c.field], c.field).toEqual([c.message]);
    }
    expect(await refusal(() => admin.admin.updateRegion({ ...regionForm(), regionId: "no-such-region" }))).toMatchObject({
      code: "NOT_FOUND",
      fieldErrors: { regionId: ["Region was not found"] },
    });
    expect(await databaseDigest()).toBe(before);
  });

  it("updates fields and capacities; never lowers a capacity below what is allocated, nor removes an allocated one", async () => {
    const form = regionForm();
    const region = await admin.admin.createRegion(form);
    const org = await createOrganization("Tenant with GPUs", { regionId: region.id, gpuTypeId: l40s.id, limitGpus: 10 });
    await db.$transaction((tx) => reserveGpus(tx, { orgId: org.id, regionId: region.id, gpuTypeId: l40s.id, gpus: 6 }));

    const before = await databaseDigest();
    expect(
      await refusal(() =>
        admin.admin.updateRegion({
          ...form,
          regionId: region.id,
          capacities: [
            { gpuTypeId: h100.id, totalGpus: 32, priceCentsPerGpuHour: 310 },
            { gpuTypeId: l40s.id, totalGpus: 4, priceCentsPerGpuHour: 155 },
          ],
        }),
      ),
    ).toMatchObject({
      code: "PRECONDITION_FAILED",
      message: `Cannot lower ${l40s.code} capacity in ${region.code} to 4: 6 GPUs are allocated`,
      fieldErrors: { "capacities.1.totalGpus": [`Cannot lower ${l40s.code} capacity in ${region.code} to 4: 6 GPUs are allocated`] },
    });
    expect(await refusal(() => admin.admin.updateRegion({ ...form, regionId: region.id, capacities: [{ gpuTypeId: h100.id, totalGpus: 32, priceCentsPerGpuHour: 310 }] }))).toMatchObject({
      code: "PRECONDITION_FAILED",
      fieldErrors: { capacities: [`${l40s.code} in ${region.code} has 6 GPUs allocated; its capacity cannot be removed until they are released`] },
    });
    expect(await refusal(() => admin.admin.setRegionStatus({ regionId: region.id, status: "RETIRED", reason: "Closing" }))).toMatchObject({
      code: "PRECONDITION_FAILED",
      message: `${region.code} still has 6 GPUs allocated (${l40s.code}: 6); drain it before retiring it`,
    });
    expect(await refusal(() => admin.admin.setRegionStatus({ regionId: region.id, status: "MAINTENANCE" }))).toMatchObject({
      code: "BAD_REQUEST",
      fieldErrors: { reason: ["Give the reason the region is under maintenance; tenants see it"] },
    });
    expect(await databaseDigest()).toBe(before);

    // Down to exactly what is allocated, a new price, the H100 row removed (nothing allocated there).
    const updated = await admin.admin.updateRegion({
      ...form,
      regionId: region.id,
      name: "Paris SecNumCloud (2)",
      capacities: [{ gpuTypeId: l40s.id, totalGpus: 6, priceCentsPerGpuHour: 160 }],
    });
    expect(updated.name).toBe("Paris SecNumCloud (2)");
    expect(updated.capacities.map((c) => [c.gpuType.code, c.totalGpus, c.allocatedGpus, c.priceCentsPerGpuHour])).toEqual([[l40s.code, 6, 6, 160]]);
    const event = await lastPlatformEvent();
    expect(event).toMatchObject({ action: "region.updated", targetId: region.id });
    expect(event.before).toMatchObject({ name: "Paris SecNumCloud", capacities: expect.arrayContaining([expect.objectContaining({ gpuType: h100.code, totalGpus: 32 })]) });
    expect(event.after).toMatchObject({ name: "Paris SecNumCloud (2)", capacities: [{ gpuType: l40s.code, totalGpus: 6, allocatedGpus: 6, priceCentsPerGpuHour: 160 }] });

    // Saving the same form again changes nothing and records nothing.
    const digest = await databaseDigest();
    await admin.admin.updateRegion({ ...form, regionId: region.id, name: "Paris SecNumCloud (2)", capacities: [{ gpuTypeId: l40s.id, totalGpus: 6, priceCentsPerGpuHour: 160 }] });
    expect(await databaseDigest()).toBe(digest);
  });

  it("region and catalog administration is refused to tenants", async () => {
    const tenant = await createTenant("not-admin");
    const owner = callerFor(tenant.ownerId);
    expect(await outcome(() => owner.admin.createRegion(regionForm()))).toBe("FORBIDDEN");
    expect(await outcome(() => owner.admin.setRegionStatus({ regionId: tenant.region.id, status: "RETIRED", reason: "x" }))).toBe("FORBIDDEN");
  });
});

describe("regions seen by a tenant", () => {
  it("a region in maintenance is listed as unavailable with its reason; a retired one is not listed", async () => {
    const tenant = await createTenant("maintenance");
    const { region, gpuType } = await gpuRegionFixture({ totalGpus: 16 });
    const retired = await gpuRegionFixture();
    await db.quota.create({ data: { orgId: tenant.org.id, regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 4 } });
    await db.$transaction((tx) => reserveGpus(tx, { orgId: tenant.org.id, regionId: region.id, gpuTypeId: gpuType.id, gpus: 3 }));
    await admin.admin.setRegionStatus({ regionId: region.id, status: "MAINTENANCE", reason: "Cooling work until Friday" });
    await admin.admin.setRegionStatus({ regionId: retired.region.id, status: "RETIRED", reason: "Data centre closed" });

    const regions = await callerFor(tenant.viewer.user.id).regions.forOrg({ orgId: tenant.org.id });
    const seen = regions.find((r) => r.id === region.id)!;
    expect(seen).toMatchObject({
      available: false,
      status: "MAINTENANCE",
      statusReason: "Cooling work until Friday",
      jurisdiction: "FR",
      carbonIntensityGco2Kwh: 32,
      residency: null,
      gpus: [{ gpuType: { id: gpuType.id }, priceCentsPerGpuHour: 310, totalGpus: 16, freeGpus: 13, quota: { limitGpus: 4, allocatedGpus: 3, freeGpus: 1 } }],
    });
    expect(regions.some((r) => r.id === retired.region.id)).toBe(false);
    expect(regions.find((r) => r.id === tenant.region.id)).toMatchObject({ available: true });
  });

  it("for RESTRICTED data under a FR + SecNumCloud + HDS policy, a US-jurisdiction exposed region is excluded with every reason", async () => {
    const tenant = await createTenant("residency");
    await db.residencyPolicy.update({
      where: { orgId_dataClassification: { orgId: tenant.org.id, dataClassification: "RESTRICTED" } },
      data: { allowedJurisdictions: ["FR"], requiredCertifications: ["SecNumCloud", "HDS"], allowExtraterritorial: false },
    });
    const hyperscaler = await gpuRegionFixture({ jurisdiction: "US", certifications: ["HDS", "ISO 27001", "C5"], extraterritorialExposure: true });
    const sovereign = await gpuRegionFixture({ jurisdiction: "FR", certifications: ["SecNumCloud", "HDS", "ISO 27001"] });
    const caller = callerFor(tenant.member.user.id);

    const restricted = await caller.regions.forOrg({ orgId: tenant.org.id, dataClassification: "RESTRICTED" });
    expect(restricted.find((r) => r.id === hyperscaler.region.id)!.residency).toEqual({
      dataClassification: "RESTRICTED",
      policyDefined: true,
      allowed: false,
      reasons: ["jurisdiction US is not allowed for RESTRICTED data", "missing certification SecNumCloud", "operator exposed to extraterritorial law"],
    });
    expect(restricted.find((r) => r.id === sovereign.region.id)!.residency).toMatchObject({ allowed: true, reasons: [] });

    // No policy for PUBLIC data: every region is allowed.
    const open = await caller.regions.forOrg({ orgId: tenant.org.id, dataClassification: "PUBLIC" });
    expect(open.find((r) => r.id === hyperscaler.region.id)!.residency).toEqual({ dataClassification: "PUBLIC", policyDefined: false, allowed: true, reasons: [] });

    // Without its policy, RESTRICTED data is refused in every region, the sovereign one included.
    await db.residencyPolicy.delete({ where: { orgId_dataClassification: { orgId: tenant.org.id, dataClassification: "RESTRICTED" } } });
    const unset = await caller.regions.forOrg({ orgId: tenant.org.id, dataClassification: "RESTRICTED" });
    expect(unset.find((r) => r.id === sovereign.region.id)!.residency).toEqual({ dataClassification: "RESTRICTED", policyDefined: false, allowed: false, reasons: [RESTRICTED_WITHOUT_POLICY] });
    expect(unset.every((r) => r.residency?.allowed === false)).toBe(true);

    expect(await refusal(() => caller.regions.forOrg({ orgId: tenant.org.id, dataClassification: "SECRET" as never }))).toMatchObject({
      code: "BAD_REQUEST",
      fieldErrors: { dataClassification: ["Data class must be Public, Internal, Confidential or Restricted"] },
    });
  });

  it("evaluateResidency: region allow-lists, 'EU' covering member states, certifications named loosely", () => {
    const policy: ResidencyPolicyRule = {
      dataClassification: "CONFIDENTIAL",
      allowedJurisdictions: ["EU"],
      requiredCertifications: ["ISO 27001"],
      allowedRegionIds: [],
      allowExtraterritorial: false,
    };
    const region = { id: "r1", code: "de-fra", jurisdiction: "DE", certifications: ["iso27001"], extraterritorialExposure: false };
    expect(evaluateResidency("CONFIDENTIAL", policy, region)).toEqual({ allowed: true, reasons: [] });
    expect(evaluateResidency("CONFIDENTIAL", policy, { ...region, jurisdiction: "CH" }).reasons).toEqual(["jurisdiction CH is not allowed for CONFIDENTIAL data"]);
    expect(evaluateResidency("CONFIDENTIAL", { ...policy, allowedRegionIds: ["r2"] }, region).reasons).toEqual(["region de-fra is not among the regions allowed for CONFIDENTIAL data"]);
    expect(evaluateResidency("CONFIDENTIAL", { ...policy, allowExtraterritorial: true }, { ...region, extraterritorialExposure: true })).toEqual({ allowed: true, reasons: [] });
    // No policy: the class is unrestricted, except RESTRICTED, refused everywhere until a policy exists.
    const exposed = { ...region, jurisdiction: "US", extraterritorialExposure: true };
    expect(evaluateResidency("CONFIDENTIAL", null, exposed)).toEqual({ allowed: true, reasons: [] });
    expect(evaluateResidency("RESTRICTED", null, exposed)).toEqual({ allowed: false, reasons: [RESTRICTED_WITHOUT_POLICY] });
    expect(evaluateResidency("RESTRICTED", null, { ...region, jurisdiction: "FR" }).allowed).toBe(false);
    expect(RESTRICTED_WITHOUT_POLICY).toBe("no residency policy for RESTRICTED data: restricted data is refused until the organisation sets one");
  });
});

describe("model catalog (platform admins)", () => {
  function modelForm(overrides: Record<string, unknown> = {}) {
    return {
      slug: unique("eurollm-9b-instruct"),
      family: "EuroLLM",
      name: "EuroLLM-9B Instruct",
      version: "1.0",
      parameterCount: "9154707456",
      contextLength: 4096,
      license: "Apache-2.0",
      openWeights: true,
      openData: false,
      origin: "EuroLLM consortium, trained on EuroHPC MareNostrum 5",
      artifactUri: "hf://utter-project/EuroLLM-9B-Instruct",
      runtime: "VLLM" as const,
      gpuMemoryGb: 20,
      minGpuCount: 1,
      fitsGpuTypeIds: [h100.id, l40s.id],
      allowedRegionIds: [] as string[],
      ...overrides,
    };
  }

  it("creates, updates, deprecates and reactivates a model, each audited in the platform chain", async () => {
    const form = modelForm();
    const created = await admin.admin.createModel(form);
    expect(created).toMatchObject({ slug: form.slug, parameterCount: 9_154_707_456n, artifactSha256: null, status: "ACTIVE", description: null });
    expect(created.fitsGpuTypes.map((g) => g.code).sort()).toEqual([h100.code, l40s.code].sort());
    expect(await lastPlatformEvent()).toMatchObject({ action: "catalog.model_added", targetId: created.id, after: expect.objectContaining({ parameterCount: "9154707456" }) });
    expect((await callerFor((await createUser("tenant")).id).catalog.list()).some((m) => m.id === created.id)).toBe(true);

    const { region } = await gpuRegionFixture();
    const sha = "AB".repeat(32);
    const updated = await admin.admin.updateModel({ ...form, modelId: created.id, artifactSha256: sha, allowedRegionIds: [region.id], fitsGpuTypeIds: [h100.id], description: "Covers the 24 official EU languages." });
    expect(updated).toMatchObject({ artifactSha256: sha.toLowerCase(), description: "Covers the 24 official EU languages." });
    expect(updated.allowedRegions.map((r) => r.id)).toEqual([region.id]);
    expect(updated.fitsGpuTypes.map((g) => g.id)).toEqual([h100.id]);
    expect(await lastPlatformEvent()).toMatchObject({
      action: "catalog.model_updated",
      before: expect.objectContaining({ artifactSha256: null, fitsGpuTypes: [h100.code, l40s.code].sort() }),
      after: expect.objectContaining({ artifactSha256: sha.toLowerCase(), allowedRegions: [region.code] }),
    });

    await admin.admin.setModelStatus({ modelId: created.id, status: "DEPRECATED" });
    expect(await lastPlatformEvent()).toMatchObject({ action: "catalog.model_deprecated", targetId: created.id });
    expect((await callerFor((await createUser("tenant")).id).catalog.list()).some((m) => m.id === created.id)).toBe(false);
    expect((await admin.admin.catalog()).find((m) => m.id === created.id)).toMatchObject({ status: "DEPRECATED" });
    expect(await refusal(() => admin.admin.setModelStatus({ modelId: created.id, status: "DEPRECATED" }))).toMatchObject({ code: "CONFLICT" });
    await admin.admin.setModelStatus({ modelId: created.id, status: "ACTIVE" });
    expect(await lastPlatformEvent()).toMatchObject({ action: "catalog.model_reactivated" });
    expect(await admin.admin.verifyPlatformAuditTrail()).toMatchObject({ ok: true });
  });

  it("the same slug and version twice is a conflict on the version field, on create and on update", async () => {
    const form = modelForm();
    await admin.admin.createModel(form);
    const other = await admin.admin.createModel({ ...form, version: "1.1" });
    const before = await databaseDigest();
    expect(await refusal(() => admin.admin.createModel(form))).toMatchObject({
      code: "CONFLICT",
      message: `${form.slug} version 1.0 is already in the catalog; give this one another version`,
      fieldErrors: { version: [`${form.slug} version 1.0 is already in the catalog; give this one another version`] },
    });
    expect(await refusal(() => admin.admin.updateModel({ ...form, modelId: other.id }))).toMatchObject({ code: "CONFLICT", fieldErrors: { version: [expect.any(String)] } });
    expect(await databaseDigest()).toBe(before);
  });

  it("refuses bad model input on the field at fault", async () => {
    const before = await databaseDigest();
    const cases: [Record<string, unknown>, string, string][] = [
      [{ parameterCount: "9e9" }, "parameterCount", "Enter the number of parameters in digits, e.g. 9000000000"],
      [{ parameterCount: "0" }, "parameterCount", "The number of parameters must be more than 0"],
      [{ artifactSha256: "abc123" }, "artifactSha256", "A SHA-256 digest is 64 hexadecimal characters"],
      [{ artifactUri: "not a uri" }, "artifactUri", "Enter a URI such as hf://org/model, local://name or https://…"],
      [{ fitsGpuTypeIds: [] }, "fitsGpuTypeIds", "Choose at least one GPU type the model fits on"],
      [{ fitsGpuTypeIds: ["no-such-gpu"] }, "fitsGpuTypeIds", "GPU type no-such-gpu was not found"],
      [{ allowedRegionIds: ["no-such-region"] }, "allowedRegionIds", "Region no-such-region was not found"],
      [{ minGpuCount: 0 }, "minGpuCount", "At least 1 GPU"],
      [{ version: "1 beta" }, "version", "A version has no spaces, e.g. v0.3"],
    ];
    for (const [override, field, message] of cases) {
      expect((await refusal(() => admin.admin.createModel(modelForm(override)))).fieldErrors[field], field).toEqual([message]);
    }
    expect(await refusal(() => admin.admin.updateModel({ ...modelForm(), modelId: "no-such-model" }))).toMatchObject({ code: "NOT_FOUND", fieldErrors: { modelId: ["Catalog model was not found"] } });
    expect(await databaseDigest()).toBe(before);
  });
});
