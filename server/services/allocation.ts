import type { Tx } from "../db";
import { DomainError } from "../errors";
import type { RegionStatus } from "../generated/prisma/enums";
import { assertOrganizationActive } from "./organizations";

/**
 * GPU reservations against an organisation's quota and a region's capacity.
 *
 * Race-proof by construction: each counter moves in one conditional UPDATE
 * (`SET allocated = allocated + n WHERE allocated + n <= limit`). PostgreSQL serialises writers on
 * the row and re-evaluates the WHERE clause against the latest committed version, so however many
 * transactions race, the counters never pass their limits. Both counters move in the caller's
 * transaction; if the region is full after the quota was taken, the quota is given back before the
 * refusal, so a caller that catches it and carries on is left with consistent counters.
 * Lock order, always: organisation (share) → region (share) → quota → region capacity.
 *
 * These functions do not audit: the caller (e.g. the deployments service) records the change
 * that needs the GPUs, in the same transaction.
 */

export interface GpuAllocation {
  orgId: string;
  regionId: string;
  gpuTypeId: string;
  gpus: number;
}

export type AllocationRefusalReason = "REGION_UNAVAILABLE" | "NO_QUOTA" | "NOT_OFFERED" | "QUOTA_EXCEEDED" | "REGION_FULL";

/** A reservation that cannot be made, with the numbers for callers that want to show their own message. */
export class AllocationRefused extends DomainError {
  constructor(
    readonly reason: AllocationRefusalReason,
    message: string,
    readonly numbers: { requested: number; free?: number; limit?: number } = { requested: 0 },
    field?: string,
  ) {
    super("PRECONDITION_FAILED", message, { field });
    this.name = "AllocationRefused";
  }
}

const STATUS_WORDS: Record<Exclude<RegionStatus, "ACTIVE">, string> = {
  MAINTENANCE: "under maintenance",
  DRAINING: "draining",
  RETIRED: "retired",
};

/** "Region fr-par-snc is under maintenance (GPU firmware upgrade until 14:00 UTC)". */
export function regionUnavailableMessage(region: { code: string; status: RegionStatus; statusReason: string | null }): string {
  const state = region.status === "ACTIVE" ? "active" : STATUS_WORDS[region.status];
  return `Region ${region.code} is ${state}${region.statusReason ? ` (${region.statusReason})` : ""}: it accepts no new GPU reservations`;
}

function assertWholeGpus(gpus: number) {
  if (!Number.isInteger(gpus) || gpus < 1) throw new DomainError("BAD_REQUEST", `GPU count must be a whole number of at least 1, not ${gpus}`, { field: "gpus" });
}

const gpusLabel = (n: number) => `${n} GPU${n === 1 ? "" : "s"}`;

/**
 * Reserves `gpus` GPUs of a type in a region for an organisation, inside the caller's transaction.
 * Refuses (and the caller's transaction should then roll back) when the organisation is
 * suspended, the region is not ACTIVE, there is no quota, the quota or the region is full.
 */
export async function reserveGpus(tx: Tx, allocation: GpuAllocation) {
  const { orgId, regionId, gpuTypeId, gpus } = allocation;
  assertWholeGpus(gpus);
  await assertOrganizationActive(tx, orgId);
  // Share lock: reservations run side by side, a status change waits for them (and they for it).
  const [region] = await tx.$queryRaw<{ code: string; status: RegionStatus; statusReason: string | null }[]>`
    SELECT code, status, "statusReason" FROM "Region" WHERE id = ${regionId} FOR SHARE`;
  if (!region) throw new DomainError("NOT_FOUND", "Region was not found", { field: "regionId" });
  if (region.status !== "ACTIVE") throw new AllocationRefused("REGION_UNAVAILABLE", regionUnavailableMessage(region), { requested: gpus }, "regionId");
  const gpuType = await tx.gpuType.findUnique({ where: { id: gpuTypeId }, select: { code: true } });
  if (!gpuType) throw new DomainError("NOT_FOUND", "GPU type was not found", { field: "gpuTypeId" });

  const [quota] = await tx.$queryRaw<{ limitGpus: number; allocatedGpus: number }[]>`
    UPDATE "Quota" SET "allocatedGpus" = "allocatedGpus" + ${gpus}, "updatedAt" = CURRENT_TIMESTAMP
    WHERE "orgId" = ${orgId} AND "regionId" = ${regionId} AND "gpuTypeId" = ${gpuTypeId} AND "allocatedGpus" + ${gpus} <= "limitGpus"
    RETURNING "limitGpus", "allocatedGpus"`;
  if (!quota) {
    const current = await tx.quota.findUnique({ where: { orgId_regionId_gpuTypeId: { orgId, regionId, gpuTypeId } }, select: { limitGpus: true, allocatedGpus: true } });
    if (!current || current.limitGpus === 0) {
      throw new AllocationRefused("NO_QUOTA", `No quota for ${gpuType.code} in ${region.code}: request one before deploying there`, { requested: gpus, free: 0, limit: 0 }, "gpuTypeId");
    }
    const free = current.limitGpus - current.allocatedGpus;
    throw new AllocationRefused(
      "QUOTA_EXCEEDED",
      `Quota exceeded: ${gpus} requested, ${free} of ${current.limitGpus} ${gpuType.code} free in ${region.code}`,
      { requested: gpus, free, limit: current.limitGpus },
      "gpus",
    );
  }

  const [capacity] = await tx.$queryRaw<{ totalGpus: number; allocatedGpus: number }[]>`
    UPDATE "RegionCapacity" SET "allocatedGpus" = "allocatedGpus" + ${gpus}, "updatedAt" = CURRENT_TIMESTAMP
    WHERE "regionId" = ${regionId} AND "gpuTypeId" = ${gpuTypeId} AND "allocatedGpus" + ${gpus} <= "totalGpus"
    RETURNING "totalGpus", "allocatedGpus"`;
  if (!capacity) {
    // Give the quota back now rather than rely on the caller rolling back: it may catch and go on.
    await tx.$executeRaw`
      UPDATE "Quota" SET "allocatedGpus" = "allocatedGpus" - ${gpus}
      WHERE "orgId" = ${orgId} AND "regionId" = ${regionId} AND "gpuTypeId" = ${gpuTypeId}`;
    const current = await tx.regionCapacity.findUnique({ where: { regionId_gpuTypeId: { regionId, gpuTypeId } }, select: { totalGpus: true, allocatedGpus: true } });
    if (!current) throw new AllocationRefused("NOT_OFFERED", `Region ${region.code} offers no ${gpuType.code} GPUs`, { requested: gpus, free: 0, limit: 0 }, "gpuTypeId");
    const free = current.totalGpus - current.allocatedGpus;
    throw new AllocationRefused(
      "REGION_FULL",
      `Region full: ${gpus} requested, ${free} of ${current.totalGpus} ${gpuType.code} free in ${region.code}`,
      { requested: gpus, free, limit: current.totalGpus },
      "gpus",
    );
  }
  return { quota, capacity };
}

/**
 * Gives reserved GPUs back, inside the caller's transaction. Always allowed (a suspended
 * organisation or a retired region must still be able to stop). Releasing more than is
 * reserved is a bookkeeping bug, not a user error, and throws as such.
 */
export async function releaseGpus(tx: Tx, allocation: GpuAllocation) {
  const { orgId, regionId, gpuTypeId, gpus } = allocation;
  assertWholeGpus(gpus);
  const [quota] = await tx.$queryRaw<{ limitGpus: number; allocatedGpus: number }[]>`
    UPDATE "Quota" SET "allocatedGpus" = "allocatedGpus" - ${gpus}, "updatedAt" = CURRENT_TIMESTAMP
    WHERE "orgId" = ${orgId} AND "regionId" = ${regionId} AND "gpuTypeId" = ${gpuTypeId} AND "allocatedGpus" >= ${gpus}
    RETURNING "limitGpus", "allocatedGpus"`;
  if (!quota) throw new Error(`releaseGpus: org ${orgId} has fewer than ${gpusLabel(gpus)} reserved against its quota for GPU type ${gpuTypeId} in region ${regionId}`);
  const [capacity] = await tx.$queryRaw<{ totalGpus: number; allocatedGpus: number }[]>`
    UPDATE "RegionCapacity" SET "allocatedGpus" = "allocatedGpus" - ${gpus}, "updatedAt" = CURRENT_TIMESTAMP
    WHERE "regionId" = ${regionId} AND "gpuTypeId" = ${gpuTypeId} AND "allocatedGpus" >= ${gpus}
    RETURNING "totalGpus", "allocatedGpus"`;
  if (!capacity) throw new Error(`releaseGpus: region ${regionId} has fewer than ${gpusLabel(gpus)} of GPU type ${gpuTypeId} allocated`);
  return { quota, capacity };
}
