/**
 * Onboarding without waiting (docs/onboarding.md): platform admins set a starter quota; every
 * organisation created afterwards receives it in its creation's transaction, audited in its own
 * chain; the first-steps checklist follows the organisation's real data.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { rollUpUsage } from "@/server/services/usage-rollup";
import { callerFor, createTenant, createUser, databaseDigest, gpuRegionFixture, outcome, refusal, TEST_PASSWORD, unique } from "../helpers";

let admin: ReturnType<typeof callerFor>;
let adminId: string;

beforeAll(async () => {
  adminId = (await createUser("platform-admin", { platformAdmin: true })).id;
  admin = callerFor(adminId);
});

async function signUpNewcomer(label: string) {
  const result = await callerFor(null, `198.51.100.${Math.floor(Math.random() * 200) + 1}`).account.signUp({
    name: `${label} owner`,
    email: `${unique(label)}@example.test`,
    password: TEST_PASSWORD,
    organizationName: `${label} ${unique("org")}`,
  });
  return result;
}

describe("the starter quota", () => {
  it("is only for platform admins, to read and to set", async () => {
    const tenant = await createTenant("not-admin");
    const { region, gpuType } = await gpuRegionFixture();
    const owner = callerFor(tenant.ownerId);
    const before = await databaseDigest();
    expect(await outcome(() => owner.admin.starterQuota())).toBe("FORBIDDEN");
    expect(await outcome(() => owner.admin.setStarterQuota({ entries: [{ regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 1 }] }))).toBe("FORBIDDEN");
    expect(await outcome(() => callerFor(null).admin.setStarterQuota({ entries: [] }))).toBe("UNAUTHORIZED");
    expect(await databaseDigest()).toBe(before);
  });

  it("refuses entries that cannot be granted, naming the entry at fault, and writes nothing", async () => {
    const { region, gpuType } = await gpuRegionFixture({ totalGpus: 3 });
    const other = await gpuRegionFixture();
    const retired = await gpuRegionFixture();
    await db.region.update({ where: { id: retired.region.id }, data: { status: "RETIRED" } });
    const ok = { regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 1 };
    const before = await databaseDigest();

    const unknownRegion = await refusal(() => admin.admin.setStarterQuota({ entries: [ok, { ...ok, regionId: "no-such-region" }] }));
    expect(unknownRegion).toMatchObject({ code: "NOT_FOUND", message: "Entry 2: the region was not found", fieldErrors: { "entries.1.regionId": ["Entry 2: the region was not found"] } });

    const notOffered = await refusal(() => admin.admin.setStarterQuota({ entries: [{ ...ok, gpuTypeId: other.gpuType.id }] }));
    expect(notOffered.code).toBe("BAD_REQUEST");
    expect(notOffered.message).toBe(`Region ${region.code} offers no ${other.gpuType.code} GPUs; add that capacity to the region first`);
    expect(notOffered.fieldErrors).toHaveProperty(["entries.0.gpuTypeId"]);

    const tooMany = await refusal(() => admin.admin.setStarterQuota({ entries: [{ ...ok, limitGpus: 4 }] }));
    expect(tooMany).toMatchObject({ code: "BAD_REQUEST", message: `At most 3 GPUs: that is region ${region.code}'s whole ${gpuType.code} capacity` });
    expect(tooMany.fieldErrors).toHaveProperty(["entries.0.limitGpus"]);

    const twice = await refusal(() => admin.admin.setStarterQuota({ entries: [ok, { ...ok, limitGpus: 2 }] }));
    expect(twice.message).toBe(`${gpuType.code} in ${region.code} is listed twice; give one amount for it`);

    const retiredRegion = await refusal(() => admin.admin.setStarterQuota({ entries: [{ regionId: retired.region.id, gpuTypeId: retired.gpuType.id, limitGpus: 1 }] }));
    expect(retiredRegion.message).toBe(`Region ${retired.region.code} is retired: new organisations cannot receive GPUs there`);

    const zero = await refusal(() => admin.admin.setStarterQuota({ entries: [{ ...ok, limitGpus: 0 }] }));
    expect(zero).toMatchObject({ code: "BAD_REQUEST", fieldErrors: { "entries.0.limitGpus": ["Give at least 1 GPU, or remove the line"] } });

    expect(await databaseDigest()).toBe(before);
  });

  it("is given to organisations created afterwards, at sign-up and from the welcome page, audited in their chain; existing ones are unchanged", async () => {
    const existing = await signUpNewcomer("before");
    const { region, gpuType } = await gpuRegionFixture({ totalGpus: 4 });

    const saved = await admin.admin.setStarterQuota({ entries: [{ regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 1 }] });
    expect(saved.entries).toMatchObject([{ region: { id: region.id, code: region.code }, gpuType: { id: gpuType.id }, limitGpus: 1 }]);
    expect(await admin.admin.starterQuota()).toEqual(saved);
    const setting = await db.auditEvent.findFirstOrThrow({ where: { chain: "platform", action: "platform.starter_quota_set" }, orderBy: { seq: "desc" } });
    expect(setting).toMatchObject({ actorId: adminId, after: { entries: [{ region: region.code, gpuType: gpuType.code, limitGpus: 1 }] } });
    // Saving the same list again changes nothing, and says so.
    expect((await refusal(() => admin.admin.setStarterQuota({ entries: [{ regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 1 }] }))).code).toBe("CONFLICT");

    const newcomer = await signUpNewcomer("after");
    expect(await db.quota.findMany({ where: { orgId: newcomer.org.id }, select: { regionId: true, gpuTypeId: true, limitGpus: true, allocatedGpus: true } })).toEqual([
      { regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 1, allocatedGpus: 0 },
    ]);
    const granted = await db.auditEvent.findFirstOrThrow({ where: { chain: newcomer.org.id, action: "quota.starter_granted" } });
    expect(granted.after).toMatchObject({ quotas: [{ region: region.code, gpuType: gpuType.code, limitGpus: 1 }] });
    expect(await db.quota.count({ where: { orgId: existing.org.id } })).toBe(0);

    // A signed-in person's second organisation (the welcome page) receives it too.
    const second = await callerFor(newcomer.userId).account.createOrganization({ name: unique("Second org") });
    expect(await db.quota.count({ where: { orgId: second.id, regionId: region.id, limitGpus: 1 } })).toBe(1);

    // The newcomer's checklist offers the slot at once.
    const progress = await callerFor(newcomer.userId).organization.onboarding({ orgId: newcomer.org.id });
    expect(progress).toMatchObject({ complete: false, steps: { deploy: "todo", apiKey: "todo", call: "todo", usage: "todo" } });
    expect(progress.deployableNow).toEqual([{ region: { code: region.code, name: region.name }, gpuType: { code: gpuType.code, name: gpuType.name }, freeGpus: 1 }]);

    // Cleared: organisations created afterwards start with none.
    await admin.admin.setStarterQuota({ entries: [] });
    const later = await signUpNewcomer("cleared");
    expect(await db.quota.count({ where: { orgId: later.org.id } })).toBe(0);
    expect(await db.auditEvent.count({ where: { chain: later.org.id, action: "quota.starter_granted" } })).toBe(0);
  });

  it("skips a region retired after the setting was made", async () => {
    const { region, gpuType } = await gpuRegionFixture();
    await admin.admin.setStarterQuota({ entries: [{ regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 2 }] });
    await db.region.update({ where: { id: region.id }, data: { status: "RETIRED" } });
    const newcomer = await signUpNewcomer("retired");
    expect(await db.quota.count({ where: { orgId: newcomer.org.id } })).toBe(0);
    await admin.admin.setStarterQuota({ entries: [] });
  });
});

describe("the first-steps checklist", () => {
  it("ticks each step from the organisation's own data, and only its own", async () => {
    const t = await createTenant("checklist");
    const fresh = await signUpNewcomer("fresh");
    const owner = callerFor(fresh.userId);
    const read = () => owner.organization.onboarding({ orgId: fresh.org.id });
    expect((await read()).steps).toEqual({ deploy: "todo", apiKey: "todo", call: "todo", usage: "todo" });
    // Another organisation's deployment, key and traffic do not count.
    await db.usageRecord.create({ data: { orgId: t.org.id, apiKeyId: t.apiKey.id, deploymentId: t.deployment.id, endpoint: "/v1/chat/completions", tokensIn: 3, tokensOut: 4, latencyMs: 20, status: 200, costMicroEur: 10 } });
    await rollUpUsage();
    expect((await read()).steps).toEqual({ deploy: "todo", apiKey: "todo", call: "todo", usage: "todo" });

    const key = await owner.apiKeys.create({ orgId: fresh.org.id, name: "first key", scopes: ["inference"] });
    expect((await read()).steps.apiKey).toBe("done");

    // A deployment that is not running yet is in progress; once it runs the step is done.
    const deployment = await db.deployment.create({
      data: {
        ...(await db.deployment.findUniqueOrThrow({ where: { id: t.deployment.id }, select: { catalogModelId: true, regionId: true, gpuTypeId: true, gpusPerReplica: true, dataClassification: true } })),
        orgId: fresh.org.id,
        name: "first",
        phase: "PROVISIONING",
        createdById: fresh.userId,
      },
    });
    expect((await read()).steps.deploy).toBe("in_progress");
    await db.deployment.update({ where: { id: deployment.id }, data: { phase: "RUNNING" } });
    expect(await read()).toMatchObject({ steps: { deploy: "done" }, runningDeployment: { id: deployment.id, name: "first" } });

    // A refused call is not a call that worked.
    await db.usageRecord.create({ data: { orgId: fresh.org.id, apiKeyId: key.id, deploymentId: deployment.id, endpoint: "/v1/chat/completions", tokensIn: 0, tokensOut: 0, latencyMs: 2, status: 429, costMicroEur: 0 } });
    expect((await read()).steps.call).toBe("todo");
    await db.usageRecord.create({ data: { orgId: fresh.org.id, apiKeyId: key.id, deploymentId: deployment.id, endpoint: "/v1/chat/completions", tokensIn: 5, tokensOut: 4, latencyMs: 30, status: 200, costMicroEur: 10 } });
    const called = await read();
    expect(called.steps.call).toBe("done");
    // In usage once the figures count it.
    await rollUpUsage();
    expect(await read()).toMatchObject({ complete: true, steps: { deploy: "done", apiKey: "done", call: "done", usage: "done" } });
    // The checklist is the organisation's own.
    expect(await outcome(() => callerFor(t.ownerId).organization.onboarding({ orgId: fresh.org.id }))).toBe("FORBIDDEN");
  });
});
