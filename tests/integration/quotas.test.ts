/**
 * Quotas: a tenant asks for more GPUs, a platform admin decides; admins also set quotas directly.
 * Every change lands in the tenant's own audit chain, which stays verifiable.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { reserveGpus } from "@/server/services/allocation";
import { callerFor, createTenant, createUser, databaseDigest, gpuRegionFixture, outcome, refusal, type Tenant } from "../helpers";

let admin: ReturnType<typeof callerFor>;

beforeAll(async () => {
  admin = callerFor((await createUser("platform-admin", { platformAdmin: true })).id);
});

async function tenantWithRegion(label: string) {
  const tenant = await createTenant(label);
  const { region, gpuType } = await gpuRegionFixture({ totalGpus: 64 });
  return { tenant, region, gpuType, tenantAdmin: callerFor(tenant.admin.user.id) };
}

async function chainActions(orgId: string | null) {
  const events = await db.auditEvent.findMany({ where: { chain: orgId ?? "platform" }, orderBy: { seq: "asc" }, select: { action: true, targetId: true, before: true, after: true } });
  return events;
}

const justification = "Load tests for the Q1 pilot of the translation service.";

describe("quota requests", () => {
  it("request → partial approval with a note → the tenant sees the new limit and the note", async () => {
    const { tenant, region, gpuType, tenantAdmin } = await tenantWithRegion("partial");
    const request = await tenantAdmin.quotas.request({ orgId: tenant.org.id, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 8, justification });
    expect(request).toMatchObject({ status: "PENDING", additionalGpus: 8 });

    const pending = (await admin.admin.quotaRequests({ limit: 200 })).items.find((r) => r.id === request.id)!;
    expect(pending).toMatchObject({ status: "PENDING", currentLimitGpus: 0, currentAllocatedGpus: 0, org: { id: tenant.org.id }, region: { code: region.code } });

    await admin.admin.decideQuotaRequest({ requestId: request.id, decision: "partial", approvedGpus: 3, note: "3 now; the rest when the new H100 racks arrive in March." });

    const { quotas, requests } = await tenantAdmin.quotas.list({ orgId: tenant.org.id });
    expect(quotas.find((q) => q.region.id === region.id && q.gpuType.id === gpuType.id)).toMatchObject({ limitGpus: 3, allocatedGpus: 0, freeGpus: 3 });
    expect(requests.find((r) => r.id === request.id)).toMatchObject({
      status: "PARTIALLY_APPROVED",
      approvedGpus: 3,
      decisionNote: "3 now; the rest when the new H100 racks arrive in March.",
    });
    expect((await admin.admin.quotaRequests({ limit: 200 })).items.find((r) => r.id === request.id)).toMatchObject({ currentLimitGpus: 3, decidedBy: { name: "platform-admin" } });
  });

  it("approving adds what was asked to an existing limit", async () => {
    const { tenant, region, gpuType, tenantAdmin } = await tenantWithRegion("approve");
    await admin.admin.setQuota({ orgId: tenant.org.id, regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 4 });
    const request = await tenantAdmin.quotas.request({ orgId: tenant.org.id, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 6, justification });
    const decided = await admin.admin.decideQuotaRequest({ requestId: request.id, decision: "approve" });
    expect(decided.request).toMatchObject({ status: "APPROVED", approvedGpus: 6 });
    expect(decided.quota).toMatchObject({ limitGpus: 10 });
  });

  it("a rejection needs a note, and changes no quota", async () => {
    const { tenant, region, gpuType, tenantAdmin } = await tenantWithRegion("reject");
    const request = await tenantAdmin.quotas.request({ orgId: tenant.org.id, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 2, justification });
    const before = await databaseDigest();
    const refused = await refusal(() => admin.admin.decideQuotaRequest({ requestId: request.id, decision: "reject" }));
    expect(refused).toMatchObject({ code: "BAD_REQUEST", message: `Explain the rejection; ${tenant.org.name} sees this note`, fieldErrors: { note: [expect.any(String)] } });
    expect(await databaseDigest()).toBe(before);

    await admin.admin.decideQuotaRequest({ requestId: request.id, decision: "reject", note: "This region is reserved for health data workloads." });
    expect(await db.quotaRequest.findUniqueOrThrow({ where: { id: request.id } })).toMatchObject({ status: "REJECTED", approvedGpus: null, decisionNote: "This region is reserved for health data workloads." });
    expect(await db.quota.count({ where: { orgId: tenant.org.id, regionId: region.id } })).toBe(0);
  });

  it("a partial approval grants from 1 to fewer than requested", async () => {
    const { tenant, region, gpuType, tenantAdmin } = await tenantWithRegion("partial-range");
    const request = await tenantAdmin.quotas.request({ orgId: tenant.org.id, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 4, justification });
    const before = await databaseDigest();
    expect(await refusal(() => admin.admin.decideQuotaRequest({ requestId: request.id, decision: "partial", approvedGpus: 4 }))).toMatchObject({
      message: "A partial approval grants from 1 to 3 GPUs: 4 were requested",
      fieldErrors: { approvedGpus: ["A partial approval grants from 1 to 3 GPUs: 4 were requested"] },
    });
    expect(await refusal(() => admin.admin.decideQuotaRequest({ requestId: request.id, decision: "partial" }))).toMatchObject({ fieldErrors: { approvedGpus: ["Say how many GPUs to grant, from 1 to 3"] } });
    expect(await refusal(() => admin.admin.decideQuotaRequest({ requestId: request.id, decision: "partial", approvedGpus: 0 }))).toMatchObject({
      code: "BAD_REQUEST",
      fieldErrors: { approvedGpus: ["Grant at least 1 GPU"] },
    });
    expect(await databaseDigest()).toBe(before);
  });

  it("a request is decided once: deciding again, or cancelling it afterwards, is refused", async () => {
    const { tenant, region, gpuType, tenantAdmin } = await tenantWithRegion("twice");
    const request = await tenantAdmin.quotas.request({ orgId: tenant.org.id, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 2, justification });
    await admin.admin.decideQuotaRequest({ requestId: request.id, decision: "approve" });
    const before = await databaseDigest();
    expect(await refusal(() => admin.admin.decideQuotaRequest({ requestId: request.id, decision: "approve" }))).toMatchObject({
      code: "CONFLICT",
      message: "This request is already approved; only pending requests can be decided",
    });
    expect(await refusal(() => tenantAdmin.quotas.cancelRequest({ orgId: tenant.org.id, requestId: request.id }))).toMatchObject({ code: "CONFLICT" });
    expect(await databaseDigest()).toBe(before);
    expect((await db.quota.findFirstOrThrow({ where: { orgId: tenant.org.id, regionId: region.id } })).limitGpus).toBe(2);
  });

  it("two admins deciding the same request at once: one wins, the limit grows once", async () => {
    const { tenant, region, gpuType, tenantAdmin } = await tenantWithRegion("concurrent-decisions");
    const request = await tenantAdmin.quotas.request({ orgId: tenant.org.id, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 5, justification });
    const results = await Promise.allSettled([
      admin.admin.decideQuotaRequest({ requestId: request.id, decision: "approve" }),
      admin.admin.decideQuotaRequest({ requestId: request.id, decision: "partial", approvedGpus: 2 }),
      admin.admin.decideQuotaRequest({ requestId: request.id, decision: "approve" }),
    ]);
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    const quota = await db.quota.findFirstOrThrow({ where: { orgId: tenant.org.id, regionId: region.id } });
    expect([5, 2]).toContain(quota.limitGpus);
  });

  it("a pending request can be cancelled by the organisation's admins, once", async () => {
    const { tenant, region, gpuType, tenantAdmin } = await tenantWithRegion("cancel");
    const request = await tenantAdmin.quotas.request({ orgId: tenant.org.id, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 2, justification });
    expect(await outcome(() => callerFor(tenant.member.user.id).quotas.cancelRequest({ orgId: tenant.org.id, requestId: request.id }))).toBe("FORBIDDEN");
    await tenantAdmin.quotas.cancelRequest({ orgId: tenant.org.id, requestId: request.id });
    expect((await db.quotaRequest.findUniqueOrThrow({ where: { id: request.id } })).status).toBe("CANCELLED");
    expect(await refusal(() => tenantAdmin.quotas.cancelRequest({ orgId: tenant.org.id, requestId: request.id }))).toMatchObject({
      code: "CONFLICT",
      message: "This request is already cancelled; only pending requests can be cancelled",
    });
    expect(await refusal(() => admin.admin.decideQuotaRequest({ requestId: request.id, decision: "approve" }))).toMatchObject({ code: "CONFLICT" });
  });

  it("bad requests are refused with the reason on the field, and nothing is written", async () => {
    const { tenant, region, gpuType, tenantAdmin } = await tenantWithRegion("bad-requests");
    const orgId = tenant.org.id;
    const other = await gpuRegionFixture();
    const retired = await gpuRegionFixture();
    await db.region.update({ where: { id: retired.region.id }, data: { status: "RETIRED", statusReason: "Closed" } });
    const valid = { orgId, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: 2, justification };
    const before = await databaseDigest();

    expect(await refusal(() => tenantAdmin.quotas.request({ ...valid, additionalGpus: 0 }))).toMatchObject({
      code: "BAD_REQUEST",
      message: "Request at least 1 GPU",
      fieldErrors: { additionalGpus: ["Request at least 1 GPU"] },
    });
    expect(await refusal(() => tenantAdmin.quotas.request({ ...valid, additionalGpus: 1001 }))).toMatchObject({ fieldErrors: { additionalGpus: ["Request at most 1,000 GPUs at a time"] } });
    expect(await refusal(() => tenantAdmin.quotas.request({ ...valid, additionalGpus: 2.5 }))).toMatchObject({ fieldErrors: { additionalGpus: ["Enter a whole number of GPUs"] } });
    expect(await refusal(() => tenantAdmin.quotas.request({ ...valid, justification: "  need  " }))).toMatchObject({
      fieldErrors: { justification: ["Explain the need in at least 10 characters"] },
    });
    expect(await refusal(() => tenantAdmin.quotas.request({ ...valid, regionId: "no-such-region" }))).toMatchObject({
      code: "NOT_FOUND",
      message: "Region was not found",
      fieldErrors: { regionId: ["Region was not found"] },
    });
    expect(await refusal(() => tenantAdmin.quotas.request({ ...valid, regionId: retired.region.id, gpuTypeId: retired.gpuType.id }))).toMatchObject({
      code: "PRECONDITION_FAILED",
      message: `Region ${retired.region.code} is retired; choose another region`,
      fieldErrors: { regionId: [expect.any(String)] },
    });
    expect(await refusal(() => tenantAdmin.quotas.request({ ...valid, gpuTypeId: other.gpuType.id }))).toMatchObject({
      code: "BAD_REQUEST",
      message: `Region ${region.code} offers no ${other.gpuType.code} GPUs`,
      fieldErrors: { gpuTypeId: [expect.any(String)] },
    });
    expect(await outcome(() => callerFor(tenant.member.user.id).quotas.request(valid))).toBe("FORBIDDEN");
    expect(await databaseDigest()).toBe(before);

    await tenantAdmin.quotas.request(valid);
    expect(await refusal(() => tenantAdmin.quotas.request({ ...valid, additionalGpus: 5 }))).toMatchObject({
      code: "CONFLICT",
      message: `A request for 2 more ${gpuType.code} in ${region.code} is already pending; cancel it to send a new one`,
      fieldErrors: { gpuTypeId: [expect.any(String)] },
    });
  });
});

describe("quotas set by platform admins", () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await createTenant("set-quota");
  });

  it("creates and changes a quota; never below what is allocated, with the numbers on limitGpus", async () => {
    const { region, gpuType } = await gpuRegionFixture({ totalGpus: 64 });
    const key = { orgId: t.org.id, regionId: region.id, gpuTypeId: gpuType.id };
    await admin.admin.setQuota({ ...key, limitGpus: 8 });
    await db.$transaction((tx) => reserveGpus(tx, { ...key, gpus: 5 }));

    const before = await databaseDigest();
    expect(await refusal(() => admin.admin.setQuota({ ...key, limitGpus: 4 }))).toMatchObject({
      code: "PRECONDITION_FAILED",
      message: `Cannot lower the quota to 4: ${t.org.name} has 5 ${gpuType.code} allocated in ${region.code}`,
      fieldErrors: { limitGpus: [`Cannot lower the quota to 4: ${t.org.name} has 5 ${gpuType.code} allocated in ${region.code}`] },
    });
    expect(await refusal(() => admin.admin.setQuota({ ...key, limitGpus: -1 }))).toMatchObject({ code: "BAD_REQUEST", fieldErrors: { limitGpus: ["A quota cannot be negative"] } });
    expect(await refusal(() => admin.admin.setQuota({ ...key, limitGpus: 8 }))).toMatchObject({ code: "CONFLICT", fieldErrors: { limitGpus: [expect.stringContaining("is already 8 GPUs")] } });
    expect(await refusal(() => admin.admin.setQuota({ ...key, orgId: "no-such-org", limitGpus: 3 }))).toMatchObject({ code: "NOT_FOUND", fieldErrors: { orgId: ["Organisation was not found"] } });
    expect(await databaseDigest()).toBe(before);

    await admin.admin.setQuota({ ...key, limitGpus: 5 });
    const overview = (await admin.admin.quotas({ limit: 200 })).items;
    expect(overview.find((q) => q.org.id === t.org.id && q.region.id === region.id)).toMatchObject({
      limitGpus: 5,
      allocatedGpus: 5,
      freeGpus: 0,
      capacity: { totalGpus: 64, allocatedGpus: 5, freeGpus: 59, quotaLimitGpus: 5 },
    });
  });

  it("a GPU type the region does not offer cannot get a quota", async () => {
    const { region } = await gpuRegionFixture();
    const elsewhere = await gpuRegionFixture();
    expect(await refusal(() => admin.admin.setQuota({ orgId: t.org.id, regionId: region.id, gpuTypeId: elsewhere.gpuType.id, limitGpus: 2 }))).toMatchObject({
      code: "BAD_REQUEST",
      fieldErrors: { gpuTypeId: [`Region ${region.code} offers no ${elsewhere.gpuType.code} GPUs; add that capacity to the region first`] },
    });
  });

  it("is refused to tenants, even to an organisation's owner", async () => {
    const { region, gpuType } = await gpuRegionFixture();
    expect(await outcome(() => callerFor(t.ownerId).admin.setQuota({ orgId: t.org.id, regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 100 }))).toBe("FORBIDDEN");
  });
});

describe("audit of quota changes", () => {
  it("requests, decisions and quota changes are in the tenant's chain, which still verifies; none in the platform chain", async () => {
    const { tenant, region, gpuType, tenantAdmin } = await tenantWithRegion("audited");
    const platformBefore = (await chainActions(null)).length;
    const key = { orgId: tenant.org.id, regionId: region.id, gpuTypeId: gpuType.id };

    await admin.admin.setQuota({ ...key, limitGpus: 2 });
    const first = await tenantAdmin.quotas.request({ ...key, additionalGpus: 4, justification });
    await admin.admin.decideQuotaRequest({ requestId: first.id, decision: "partial", approvedGpus: 1, note: "One for now." });
    const second = await tenantAdmin.quotas.request({ ...key, additionalGpus: 3, justification });
    await tenantAdmin.quotas.cancelRequest({ orgId: tenant.org.id, requestId: second.id });
    const third = await tenantAdmin.quotas.request({ ...key, additionalGpus: 3, justification });
    await admin.admin.decideQuotaRequest({ requestId: third.id, decision: "reject", note: "Not in this region." });

    const events = (await chainActions(tenant.org.id)).filter((e) => ["quota.set", "quota.requested", "quota.increased"].includes(e.action) || e.action.startsWith("quota.request_"));
    expect(events.map((e) => e.action)).toEqual([
      "quota.set",
      "quota.requested",
      "quota.request_partially_approved",
      "quota.increased",
      "quota.requested",
      "quota.request_cancelled",
      "quota.requested",
      "quota.request_rejected",
    ]);
    expect(events[0]).toMatchObject({ before: null, after: { limitGpus: 2, region: region.code, gpuType: gpuType.code } });
    expect(events[2]).toMatchObject({ targetId: first.id, before: { status: "PENDING", additionalGpus: 4 }, after: { status: "PARTIALLY_APPROVED", approvedGpus: 1, decisionNote: "One for now." } });
    expect(events[3]).toMatchObject({ before: { limitGpus: 2 }, after: { limitGpus: 3, quotaRequestId: first.id } });

    // The tenant sees the decisions in its own trail, and the trail verifies.
    const trail = await callerFor(tenant.ownerId).compliance.auditTrail({ orgId: tenant.org.id, limit: 100 });
    expect(trail.items.map((e) => e.action)).toContain("quota.request_partially_approved");
    expect(await callerFor(tenant.ownerId).compliance.verifyAuditTrail({ orgId: tenant.org.id })).toMatchObject({ ok: true });
    expect((await chainActions(null)).length).toBe(platformBefore);
    expect(await admin.admin.verifyPlatformAuditTrail()).toMatchObject({ ok: true });
  });
});
