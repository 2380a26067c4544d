import { db, type Tx } from "../db";
import { DomainError, badRequest, conflict, isUniqueViolation, preconditionFailed } from "../errors";
import type { DataClassification, DriverKind, RegionStatus, SovereigntyLevel } from "../generated/prisma/enums";
import { recordAudit, type Actor } from "./audit";
import { clusterConnection, type RegionEndpoint } from "./cluster-credentials";
import { evaluateResidency } from "./policy";

export interface CapacityInput {
  gpuTypeId: string;
  totalGpus: number;
  priceCentsPerGpuHour: number;
}

/** A certification with its details, as stored in `Region.certificationDetails` (dates as YYYY-MM-DD). */
export type CertificationDetail = {
  name: string;
  issuer: string;
  scope: string | null;
  validFrom: string;
  validUntil: string | null;
};

export interface RegionInput {
  code: string;
  name: string;
  provider: string;
  country: string;
  city: string;
  jurisdiction: string;
  certifications: string[];
  certificationDetails: CertificationDetail[];
  sovereigntyLevel: SovereigntyLevel | null;
  extraterritorialExposure: boolean;
  exposureNote: string | null;
  onPremises: boolean;
  driverKind: DriverKind;
  driverEndpoint: string | null;
  carbonIntensityGco2Kwh: number;
  capacities: CapacityInput[];
}

const regionSelect = {
  id: true,
  code: true,
  name: true,
  provider: true,
  country: true,
  city: true,
  jurisdiction: true,
  certifications: true,
  certificationDetails: true,
  sovereigntyLevel: true,
  extraterritorialExposure: true,
  exposureNote: true,
  onPremises: true,
  driverKind: true,
  status: true,
  statusReason: true,
  carbonIntensityGco2Kwh: true,
  capacities: {
    select: { totalGpus: true, allocatedGpus: true, priceCentsPerGpuHour: true, gpuType: { select: { id: true, code: true, name: true, memoryGb: true } } },
    orderBy: { gpuType: { code: "asc" } },
  },
} as const;

/** A region row with its certification details typed (the column is JSON). */
export function withCertificationDetails<R extends { certificationDetails: unknown }>(region: R): Omit<R, "certificationDetails"> & { certificationDetails: CertificationDetail[] } {
  return { ...region, certificationDetails: certificationDetailsOf(region.certificationDetails) };
}

// ─── Cluster connection ──────────────────────────────────────────────────────

/**
 * Whether this installation can run workloads in the region, as tenants see it: a region whose
 * cluster is not connected takes no deployment (deploymentOptions refuses it with this reason).
 * The rule itself is cluster-credentials.ts, the one the drivers use.
 */
export function regionConnection(region: RegionEndpoint): { connected: boolean; reason: string | null } {
  if (clusterConnection(region).state === "connected") return { connected: true, reason: null };
  return { connected: false, reason: "Not connected to this installation yet: deployments there cannot start until a platform operator connects its cluster" };
}

/** The same, for platform admins: the precise reason and the environment variables to set (names only). */
export function regionConnectionForAdmins(region: RegionEndpoint): { connected: boolean; misconfigured: boolean; reason: string | null; missingSettings: string[] } {
  const connection = clusterConnection(region);
  if (connection.state === "connected") return { connected: true, misconfigured: false, reason: null, missingSettings: [] };
  return { connected: false, misconfigured: connection.state === "misconfigured", reason: connection.reason, missingSettings: connection.missing };
}

/** Regions a tenant can see: every region that is not retired, with prices, free capacity and whether its cluster is connected. */
export async function listRegionsForTenants() {
  const regions = await db.region.findMany({ where: { status: { not: "RETIRED" } }, select: { ...regionSelect, driverEndpoint: true }, orderBy: { code: "asc" } });
  // The endpoint decides the connection; tenants are not shown it.
  return regions.map(({ driverEndpoint, ...region }) => ({ ...withCertificationDetails(region), connection: regionConnection({ ...region, driverEndpoint }) }));
}

export async function listRegionsForAdmins() {
  const regions = await db.region.findMany({ select: { ...regionSelect, driverEndpoint: true, updatedAt: true }, orderBy: { code: "asc" } });
  return regions.map((region) => ({ ...withCertificationDetails(region), connection: regionConnectionForAdmins(region) }));
}

export function listGpuTypes() {
  return db.gpuType.findMany({ select: { id: true, code: true, name: true, vendor: true, memoryGb: true }, orderBy: { code: "asc" } });
}

/**
 * The regions an organisation can choose from: every region that is not retired, with what the
 * organisation may use there (its quota and allocation per GPU type) and, for a data class,
 * whether its residency policy allows the region and why not.
 */
export async function regionsForOrg(orgId: string, options: { dataClassification?: DataClassification } = {}) {
  const { dataClassification } = options;
  const [regions, quotas, policy] = await Promise.all([
    db.region.findMany({ where: { status: { not: "RETIRED" } }, select: { ...regionSelect, driverEndpoint: true }, orderBy: { code: "asc" } }),
    db.quota.findMany({ where: { orgId }, select: { regionId: true, gpuTypeId: true, limitGpus: true, allocatedGpus: true } }),
    dataClassification ? db.residencyPolicy.findUnique({ where: { orgId_dataClassification: { orgId, dataClassification } } }) : null,
  ]);
  const quotaOf = new Map(quotas.map((q) => [`${q.regionId}/${q.gpuTypeId}`, q]));
  return regions.map(({ capacities, driverEndpoint, ...region }) => ({
    ...withCertificationDetails(region),
    available: region.status === "ACTIVE",
    connection: regionConnection({ ...region, driverEndpoint }),
    gpus: capacities.map((c) => {
      const quota = quotaOf.get(`${region.id}/${c.gpuType.id}`);
      return {
        gpuType: c.gpuType,
        priceCentsPerGpuHour: c.priceCentsPerGpuHour,
        totalGpus: c.totalGpus,
        freeGpus: Math.max(0, c.totalGpus - c.allocatedGpus),
        quota: { limitGpus: quota?.limitGpus ?? 0, allocatedGpus: quota?.allocatedGpus ?? 0, freeGpus: Math.max(0, (quota?.limitGpus ?? 0) - (quota?.allocatedGpus ?? 0)) },
      };
    }),
    residency: dataClassification ? { dataClassification, policyDefined: policy !== null, ...evaluateResidency(dataClassification, policy, region) } : null,
  }));
}

// ─── Administration ──────────────────────────────────────────────────────────

type RegionWithCapacities = Awaited<ReturnType<typeof loadRegion>>;

function loadRegion(tx: Tx, regionId: string) {
  return tx.region.findUnique({
    where: { id: regionId },
    include: { capacities: { include: { gpuType: { select: { code: true } } }, orderBy: { gpuType: { code: "asc" } } } },
  });
}

/** What the audit trail records of a region. */
function regionSnapshot(region: NonNullable<RegionWithCapacities>) {
  const { capacities, createdAt: _c, updatedAt: _u, id: _i, ...fields } = region;
  return {
    ...fields,
    capacities: capacities.map((c) => ({ gpuType: c.gpuType.code, totalGpus: c.totalGpus, allocatedGpus: c.allocatedGpus, priceCentsPerGpuHour: c.priceCentsPerGpuHour })),
  };
}

async function gpuTypeCodes(tx: Tx, capacities: CapacityInput[]): Promise<Map<string, string>> {
  const seen = new Map<string, number>();
  capacities.forEach((c, i) => {
    if (seen.has(c.gpuTypeId)) throw badRequest(`This GPU type is already listed in row ${seen.get(c.gpuTypeId)! + 1}; list each GPU type once`, `capacities.${i}.gpuTypeId`);
    seen.set(c.gpuTypeId, i);
  });
  const known = await tx.gpuType.findMany({ where: { id: { in: capacities.map((c) => c.gpuTypeId) } }, select: { id: true, code: true } });
  const codes = new Map(known.map((g) => [g.id, g.code]));
  capacities.forEach((c, i) => {
    if (!codes.has(c.gpuTypeId)) throw new DomainError("NOT_FOUND", "GPU type was not found", { field: `capacities.${i}.gpuTypeId` });
  });
  return codes;
}

async function assertCodeFree(tx: Tx, code: string, exceptRegionId?: string) {
  const existing = await tx.region.findUnique({ where: { code }, select: { id: true } });
  if (existing && existing.id !== exceptRegionId) throw conflict(`A region with the code ${code} already exists`, "code");
}

/** Saving a form without changing anything writes nothing and leaves no audit event. */
function isUnchanged(before: NonNullable<RegionWithCapacities>, input: RegionInput): boolean {
  const fields = regionFields(input);
  const canonical = (key: keyof typeof fields, value: unknown) => JSON.stringify(key === "certificationDetails" ? certificationDetailsOf(value) : value);
  const same = (Object.keys(fields) as (keyof typeof fields)[]).every((key) => canonical(key, before[key]) === canonical(key, fields[key]));
  const capacities = (list: CapacityInput[]) => JSON.stringify(list.map((c) => [c.gpuTypeId, c.totalGpus, c.priceCentsPerGpuHour]).sort());
  return same && capacities(before.capacities) === capacities(input.capacities);
}

function regionFields(input: RegionInput) {
  const { capacities: _capacities, ...fields } = input;
  return fields;
}

/**
 * Names and details kept consistent: a name is detailed at most once, and every detailed name is
 * in `certifications` (what residency policies match), added when the form left it out.
 */
function withConsistentCertifications<T extends RegionInput>(input: T): T {
  const seen = new Map<string, number>();
  const details = input.certificationDetails.map((d) => ({ name: d.name, issuer: d.issuer, scope: d.scope ?? null, validFrom: d.validFrom, validUntil: d.validUntil ?? null }));
  details.forEach((d, i) => {
    const key = d.name.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined) throw badRequest(`${details[first]!.name} is already detailed in row ${first + 1}; detail each certification once`, `certificationDetails.${i}.name`);
    seen.set(key, i);
  });
  const names = [...input.certifications];
  for (const d of details) {
    const same = names.findIndex((n) => n.toLowerCase() === d.name.toLowerCase());
    if (same < 0) names.push(d.name);
    else names[same] = d.name; // one spelling: the detail's
  }
  if (names.length > 20) throw badRequest("At most 20 certifications", "certifications");
  return { ...input, certifications: [...new Set(names)], certificationDetails: details };
}

/** The details in a canonical form (jsonb does not keep key order), for "did anything change". */
export function certificationDetailsOf(value: unknown): CertificationDetail[] {
  if (!Array.isArray(value)) return [];
  return value.map((raw) => {
    const d = (raw ?? {}) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
    return { name: str(d.name) ?? "", issuer: str(d.issuer) ?? "", scope: str(d.scope), validFrom: str(d.validFrom) ?? "", validUntil: str(d.validUntil) };
  });
}

export async function createRegion(actor: Actor, raw: RegionInput) {
  const input = withConsistentCertifications(raw);
  try {
    return await db.$transaction(async (tx) => {
      await assertCodeFree(tx, input.code);
      await gpuTypeCodes(tx, input.capacities);
      const created = await tx.region.create({
        data: {
          ...regionFields(input),
          capacities: { create: input.capacities.map((c) => ({ gpuTypeId: c.gpuTypeId, totalGpus: c.totalGpus, priceCentsPerGpuHour: c.priceCentsPerGpuHour })) },
        },
      });
      const region = (await loadRegion(tx, created.id))!;
      await recordAudit(tx, actor, { orgId: null, action: "region.created", targetType: "Region", targetId: region.id, after: regionSnapshot(region) });
      return withCertificationDetails(region);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`A region with the code ${input.code} already exists`, "code");
    throw error;
  }
}

/**
 * Replaces a region's fields and its capacity rows (one per GPU type; rows left out are removed).
 * A capacity never goes below what is allocated, and a row with allocated GPUs is never removed.
 */
export async function updateRegion(actor: Actor, raw: RegionInput & { regionId: string }) {
  const input = withConsistentCertifications(raw);
  const { regionId, ...rest } = input;
  try {
    return await db.$transaction(async (tx) => {
      // Exclusive lock: waits for in-flight reservations (they hold a share lock) and holds off new ones.
      const [locked] = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "Region" WHERE id = ${regionId} FOR UPDATE`;
      if (!locked) throw new DomainError("NOT_FOUND", "Region was not found", { field: "regionId" });
      const before = (await loadRegion(tx, regionId))!;
      if (rest.code !== before.code) await assertCodeFree(tx, rest.code, regionId);
      await gpuTypeCodes(tx, rest.capacities);
      if (isUnchanged(before, rest)) return withCertificationDetails(before);

      const wanted = new Map(rest.capacities.map((c, i) => [c.gpuTypeId, { ...c, index: i }]));
      for (const existing of before.capacities) {
        const next = wanted.get(existing.gpuTypeId);
        if (!next && existing.allocatedGpus > 0) {
          throw preconditionFailed(
            `${existing.gpuType.code} in ${before.code} has ${existing.allocatedGpus} GPUs allocated; its capacity cannot be removed until they are released`,
            "capacities",
          );
        }
        if (next && next.totalGpus < existing.allocatedGpus) {
          throw preconditionFailed(
            `Cannot lower ${existing.gpuType.code} capacity in ${before.code} to ${next.totalGpus}: ${existing.allocatedGpus} GPUs are allocated`,
            `capacities.${next.index}.totalGpus`,
          );
        }
      }

      await tx.region.update({ where: { id: regionId }, data: regionFields(rest) });
      const removed = before.capacities.filter((c) => !wanted.has(c.gpuTypeId)).map((c) => c.id);
      if (removed.length > 0) await tx.regionCapacity.deleteMany({ where: { id: { in: removed } } });
      for (const c of rest.capacities) {
        await tx.regionCapacity.upsert({
          where: { regionId_gpuTypeId: { regionId, gpuTypeId: c.gpuTypeId } },
          create: { regionId, gpuTypeId: c.gpuTypeId, totalGpus: c.totalGpus, priceCentsPerGpuHour: c.priceCentsPerGpuHour },
          update: { totalGpus: c.totalGpus, priceCentsPerGpuHour: c.priceCentsPerGpuHour },
        });
      }
      const after = (await loadRegion(tx, regionId))!;
      await recordAudit(tx, actor, { orgId: null, action: "region.updated", targetType: "Region", targetId: regionId, before: regionSnapshot(before), after: regionSnapshot(after) });
      return withCertificationDetails(after);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`A region with the code ${input.code} already exists`, "code");
    throw error;
  }
}

const STATUS_WORDS: Record<RegionStatus, string> = { ACTIVE: "active", MAINTENANCE: "under maintenance", DRAINING: "draining", RETIRED: "retired" };

/**
 * ACTIVE takes new reservations; MAINTENANCE and DRAINING keep what runs but take none; RETIRED
 * disappears from tenants' lists and needs the region to be empty. Every status but ACTIVE
 * carries a reason that tenants see.
 */
export async function setRegionStatus(actor: Actor, input: { regionId: string; status: RegionStatus; reason?: string | null }) {
  const reason = input.reason?.trim() || null;
  if (input.status !== "ACTIVE" && !reason) throw badRequest(`Give the reason the region is ${STATUS_WORDS[input.status]}; tenants see it`, "reason");
  return db.$transaction(async (tx) => {
    const [before] = await tx.$queryRaw<{ id: string; code: string; status: RegionStatus; statusReason: string | null }[]>`
      SELECT id, code, status, "statusReason" FROM "Region" WHERE id = ${input.regionId} FOR UPDATE`;
    if (!before) throw new DomainError("NOT_FOUND", "Region was not found", { field: "regionId" });
    const nextReason = input.status === "ACTIVE" ? null : reason;
    if (before.status === input.status && before.statusReason === nextReason) throw conflict(`${before.code} is already ${STATUS_WORDS[input.status]}`, "status");
    if (input.status === "RETIRED") {
      const allocated = await tx.regionCapacity.findMany({ where: { regionId: before.id, allocatedGpus: { gt: 0 } }, select: { allocatedGpus: true, gpuType: { select: { code: true } } } });
      if (allocated.length > 0) {
        const total = allocated.reduce((s, c) => s + c.allocatedGpus, 0);
        throw preconditionFailed(
          `${before.code} still has ${total} GPUs allocated (${allocated.map((c) => `${c.gpuType.code}: ${c.allocatedGpus}`).join(", ")}); drain it before retiring it`,
          "status",
        );
      }
    }
    const after = await tx.region.update({ where: { id: before.id }, data: { status: input.status, statusReason: nextReason }, select: { id: true, code: true, status: true, statusReason: true } });
    await recordAudit(tx, actor, {
      orgId: null,
      action: "region.status_changed",
      targetType: "Region",
      targetId: before.id,
      before: { code: before.code, status: before.status, statusReason: before.statusReason },
      after: { code: after.code, status: after.status, statusReason: after.statusReason },
    });
    return after;
  });
}
