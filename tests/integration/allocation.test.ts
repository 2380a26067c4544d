/**
 * GPU allocation: reservations against an organisation's quota and a region's capacity are atomic
 * and never exceed either, however many transactions race for the last GPUs.
 */
import { describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { releaseGpus, reserveGpus, type GpuAllocation } from "@/server/services/allocation";
import { callerFor, createOrganization, createUser, gpuRegionFixture } from "../helpers";

/** Each reservation in its own transaction, as concurrent deployments would make them. */
function reserveInOwnTransaction(allocation: GpuAllocation) {
  return db.$transaction((tx) => reserveGpus(tx, allocation), { maxWait: 60_000, timeout: 60_000 });
}

async function counters(orgId: string, regionId: string, gpuTypeId: string) {
  const [quota, capacity] = await Promise.all([
    db.quota.findUniqueOrThrow({ where: { orgId_regionId_gpuTypeId: { orgId, regionId, gpuTypeId } } }),
    db.regionCapacity.findUniqueOrThrow({ where: { regionId_gpuTypeId: { regionId, gpuTypeId } } }),
  ]);
  return { quota: quota.allocatedGpus, region: capacity.allocatedGpus };
}

function messagesOf(results: PromiseSettledResult<unknown>[]) {
  return results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => (r.reason as Error).message);
}

describe("GPU allocation", () => {
  it("50 concurrent reservations racing for the last 3 GPUs of a quota: exactly 3 succeed, the rest are told the numbers", async () => {
    const { region, gpuType } = await gpuRegionFixture({ totalGpus: 64 });
    const org = await createOrganization("Quota race", { regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 10 });
    const key = { orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id };
    await reserveInOwnTransaction({ ...key, gpus: 7 });

    const results = await Promise.allSettled(Array.from({ length: 50 }, () => reserveInOwnTransaction({ ...key, gpus: 1 })));

    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(3);
    expect(await counters(org.id, region.id, gpuType.id)).toEqual({ quota: 10, region: 10 });
    const failures = messagesOf(results);
    expect(failures).toHaveLength(47);
    for (const message of failures) expect(message).toBe(`Quota exceeded: 1 requested, 0 of 10 ${gpuType.code} free in ${region.code}`);
  });

  it("50 concurrent reservations from five organisations racing for the last 7 GPUs of a region: exactly 7 succeed", async () => {
    const { region, gpuType } = await gpuRegionFixture({ totalGpus: 12 });
    const incumbent = await createOrganization("Incumbent", { regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 5 });
    await reserveInOwnTransaction({ orgId: incumbent.id, regionId: region.id, gpuTypeId: gpuType.id, gpus: 5 });
    const racers = await Promise.all(Array.from({ length: 5 }, (_, i) => createOrganization(`Racer ${i}`, { regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 100 })));

    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => reserveInOwnTransaction({ orgId: racers[i % 5].id, regionId: region.id, gpuTypeId: gpuType.id, gpus: 1 })),
    );

    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(7);
    const capacity = await db.regionCapacity.findUniqueOrThrow({ where: { regionId_gpuTypeId: { regionId: region.id, gpuTypeId: gpuType.id } } });
    expect(capacity.allocatedGpus).toBe(12);
    // Every organisation's quota counts exactly its own successes: refused reservations took nothing.
    const racerQuotas = await db.quota.findMany({ where: { orgId: { in: racers.map((r) => r.id) } }, select: { allocatedGpus: true } });
    expect(racerQuotas.reduce((sum, q) => sum + q.allocatedGpus, 0)).toBe(7);
    const failures = messagesOf(results);
    expect(failures).toHaveLength(43);
    for (const message of failures) expect(message).toBe(`Region full: 1 requested, 0 of 12 ${gpuType.code} free in ${region.code}`);
  });

  it("a reservation larger than what is free is refused with the numbers, and takes nothing", async () => {
    const { region, gpuType } = await gpuRegionFixture({ totalGpus: 64 });
    const org = await createOrganization("Big ask", { regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 8 });
    const key = { orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id };
    await reserveInOwnTransaction({ ...key, gpus: 6 });
    await expect(reserveInOwnTransaction({ ...key, gpus: 4 })).rejects.toMatchObject({
      code: "PRECONDITION_FAILED",
      message: `Quota exceeded: 4 requested, 2 of 8 ${gpuType.code} free in ${region.code}`,
      reason: "QUOTA_EXCEEDED",
      numbers: { requested: 4, free: 2, limit: 8 },
    });
    expect(await counters(org.id, region.id, gpuType.id)).toEqual({ quota: 6, region: 6 });
  });

  it("a region-full refusal gives the quota back even when the caller catches it and commits", async () => {
    const { region, gpuType } = await gpuRegionFixture({ totalGpus: 2 });
    const org = await createOrganization("Catcher", { regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 10 });
    const key = { orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id };
    const message = await db.$transaction(async (tx) => {
      try {
        await reserveGpus(tx, { ...key, gpus: 3 });
        return "reserved";
      } catch (error) {
        return (error as Error).message;
      }
    });
    expect(message).toBe(`Region full: 3 requested, 2 of 2 ${gpuType.code} free in ${region.code}`);
    expect(await counters(org.id, region.id, gpuType.id)).toEqual({ quota: 0, region: 0 });
  });

  it("without a quota for the region × GPU type, a reservation is refused", async () => {
    const { region, gpuType } = await gpuRegionFixture();
    const org = await createOrganization("No quota");
    await expect(reserveInOwnTransaction({ orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id, gpus: 1 })).rejects.toMatchObject({
      code: "PRECONDITION_FAILED",
      message: `No quota for ${gpuType.code} in ${region.code}: request one before deploying there`,
    });
  });

  it("a region in maintenance or draining refuses new reservations, with the admin's reason; back to active, it accepts them", async () => {
    const { region, gpuType } = await gpuRegionFixture();
    const org = await createOrganization("Status", { regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 8 });
    const admin = callerFor((await createUser("platform-admin", { platformAdmin: true })).id);
    const key = { orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id, gpus: 1 };

    await admin.admin.setRegionStatus({ regionId: region.id, status: "MAINTENANCE", reason: "GPU firmware upgrade until 14:00 UTC" });
    await expect(reserveInOwnTransaction(key)).rejects.toMatchObject({
      code: "PRECONDITION_FAILED",
      message: `Region ${region.code} is under maintenance (GPU firmware upgrade until 14:00 UTC): it accepts no new GPU reservations`,
    });

    await admin.admin.setRegionStatus({ regionId: region.id, status: "DRAINING", reason: "Hardware refresh in January" });
    await expect(reserveInOwnTransaction(key)).rejects.toMatchObject({
      message: `Region ${region.code} is draining (Hardware refresh in January): it accepts no new GPU reservations`,
    });

    await admin.admin.setRegionStatus({ regionId: region.id, status: "ACTIVE" });
    await reserveInOwnTransaction(key);
    expect(await counters(org.id, region.id, gpuType.id)).toEqual({ quota: 1, region: 1 });
  });

  it("a suspended organisation cannot reserve GPUs; reactivated, it can", async () => {
    const { region, gpuType } = await gpuRegionFixture();
    const org = await createOrganization("Suspended", { regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 8 });
    const admin = callerFor((await createUser("platform-admin", { platformAdmin: true })).id);
    const key = { orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id, gpus: 2 };

    await admin.admin.setOrganizationStatus({ orgId: org.id, status: "SUSPENDED", reason: "Unpaid invoices since March" });
    await expect(reserveInOwnTransaction(key)).rejects.toMatchObject({
      code: "FORBIDDEN",
      message: `${org.name} is suspended (Unpaid invoices since March): it cannot reserve GPUs until a platform administrator reactivates it`,
    });
    expect(await counters(org.id, region.id, gpuType.id)).toEqual({ quota: 0, region: 0 });

    await admin.admin.setOrganizationStatus({ orgId: org.id, status: "ACTIVE" });
    await reserveInOwnTransaction(key);
    expect(await counters(org.id, region.id, gpuType.id)).toEqual({ quota: 2, region: 2 });
  });

  it("releasing gives the GPUs back to the quota and the region; releasing more than reserved is a bug and throws", async () => {
    const { region, gpuType } = await gpuRegionFixture({ totalGpus: 8 });
    const org = await createOrganization("Release", { regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 8 });
    const key = { orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id };
    await reserveInOwnTransaction({ ...key, gpus: 8 });
    await expect(reserveInOwnTransaction({ ...key, gpus: 1 })).rejects.toThrow("Quota exceeded");

    await db.$transaction((tx) => releaseGpus(tx, { ...key, gpus: 5 }));
    expect(await counters(org.id, region.id, gpuType.id)).toEqual({ quota: 3, region: 3 });
    await reserveInOwnTransaction({ ...key, gpus: 5 });
    expect(await counters(org.id, region.id, gpuType.id)).toEqual({ quota: 8, region: 8 });

    await expect(db.$transaction((tx) => releaseGpus(tx, { ...key, gpus: 9 }))).rejects.toThrow("fewer than 9 GPUs reserved");
    expect(await counters(org.id, region.id, gpuType.id)).toEqual({ quota: 8, region: 8 });
  });

  it("a suspended organisation can still release what it holds", async () => {
    const { region, gpuType } = await gpuRegionFixture();
    const org = await createOrganization("Release while suspended", { regionId: region.id, gpuTypeId: gpuType.id, limitGpus: 4 });
    const key = { orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id, gpus: 4 };
    await reserveInOwnTransaction(key);
    await db.organization.update({ where: { id: org.id }, data: { status: "SUSPENDED", statusReason: "test" } });
    await db.$transaction((tx) => releaseGpus(tx, key));
    expect(await counters(org.id, region.id, gpuType.id)).toEqual({ quota: 0, region: 0 });
  });
});
