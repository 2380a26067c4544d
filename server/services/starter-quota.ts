import { db, type Tx } from "../db";
import { DomainError, badRequest, conflict } from "../errors";
import { recordAudit, type Actor } from "./audit";

/**
 * The starter quota (docs/onboarding.md): a platform setting listing the GPUs (region × GPU type ×
 * amount) every new organisation receives when it is created, so a newcomer can deploy at once,
 * before any quota request is decided. Changing it never touches existing organisations.
 */

export interface StarterQuotaEntry {
  regionId: string;
  gpuTypeId: string;
  limitGpus: number;
}

const gpus = (n: number) => `${n} GPU${n === 1 ? "" : "s"}`;

const entrySelect = {
  limitGpus: true,
  updatedAt: true,
  region: { select: { id: true, code: true, name: true, status: true } },
  gpuType: { select: { id: true, code: true, name: true } },
} as const;

/** The current starter quota, by region and GPU type. */
export async function getStarterQuota(client: Pick<Tx, "starterQuota"> = db) {
  const rows = await client.starterQuota.findMany({ select: entrySelect, orderBy: [{ region: { code: "asc" } }, { gpuType: { code: "asc" } }] });
  return { entries: rows.map(({ updatedAt, ...row }) => ({ ...row, updatedAt })) };
}

/** A compact form for audit records: codes, not ids. */
const describe = (rows: { region: { code: string }; gpuType: { code: string }; limitGpus: number }[]) =>
  rows.map((r) => ({ region: r.region.code, gpuType: r.gpuType.code, limitGpus: r.limitGpus }));

/**
 * Replaces the starter quota with `entries` (platform admins). Each entry must name an existing,
 * not retired region that offers the GPU type, with at most the region's capacity of it; the
 * refusal names the entry at fault. Audited in the platform chain, in the same transaction.
 */
export async function setStarterQuota(actor: Actor, input: { entries: StarterQuotaEntry[] }) {
  return db.$transaction(async (tx) => {
    // One writer at a time: two admins cannot interleave their replacements.
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('starter-quota'))`;
    const seen = new Set<string>();
    const checked: { regionId: string; gpuTypeId: string; limitGpus: number; region: { code: string }; gpuType: { code: string } }[] = [];
    for (const [i, entry] of input.entries.entries()) {
      const at = `entries.${i}`;
      const region = await tx.region.findUnique({
        where: { id: entry.regionId },
        select: { id: true, code: true, status: true, capacities: { where: { gpuTypeId: entry.gpuTypeId }, select: { totalGpus: true } } },
      });
      if (!region) throw new DomainError("NOT_FOUND", `Entry ${i + 1}: the region was not found`, { field: `${at}.regionId` });
      const gpuType = await tx.gpuType.findUnique({ where: { id: entry.gpuTypeId }, select: { id: true, code: true } });
      if (!gpuType) throw new DomainError("NOT_FOUND", `Entry ${i + 1}: the GPU type was not found`, { field: `${at}.gpuTypeId` });
      const key = `${region.id}:${gpuType.id}`;
      if (seen.has(key)) throw badRequest(`${gpuType.code} in ${region.code} is listed twice; give one amount for it`, `${at}.gpuTypeId`);
      seen.add(key);
      if (region.status === "RETIRED") throw badRequest(`Region ${region.code} is retired: new organisations cannot receive GPUs there`, `${at}.regionId`);
      const capacity = region.capacities[0]?.totalGpus;
      if (capacity === undefined) throw badRequest(`Region ${region.code} offers no ${gpuType.code} GPUs; add that capacity to the region first`, `${at}.gpuTypeId`);
      if (entry.limitGpus > capacity) {
        throw badRequest(`At most ${gpus(capacity)}: that is region ${region.code}'s whole ${gpuType.code} capacity`, `${at}.limitGpus`);
      }
      checked.push({ ...entry, region, gpuType });
    }
    const before = await getStarterQuota(tx);
    const unchanged =
      before.entries.length === checked.length &&
      checked.every((c) => before.entries.some((b) => b.region.id === c.regionId && b.gpuType.id === c.gpuTypeId && b.limitGpus === c.limitGpus));
    if (unchanged) throw conflict("The starter quota is already set to this", "entries");
    await tx.starterQuota.deleteMany({});
    const updatedById = actor.type === "USER" ? actor.id : null;
    if (checked.length) {
      await tx.starterQuota.createMany({ data: checked.map((c) => ({ regionId: c.regionId, gpuTypeId: c.gpuTypeId, limitGpus: c.limitGpus, updatedById })) });
    }
    const after = await getStarterQuota(tx);
    await recordAudit(tx, actor, {
      orgId: null,
      action: "platform.starter_quota_set",
      targetType: "StarterQuota",
      targetId: "starter-quota",
      before: { entries: describe(before.entries) },
      after: { entries: describe(after.entries) },
    });
    return after;
  });
}

/**
 * Gives a just-created organisation the starter quota, inside its creation's transaction, with
 * one audit event in its chain listing what it received. Retired regions are skipped (a region
 * may be retired after the setting was made). Returns the quotas created.
 */
export async function applyStarterQuotaInTx(tx: Tx, actor: Actor, orgId: string) {
  const { entries } = await getStarterQuota(tx);
  const usable = entries.filter((e) => e.region.status !== "RETIRED" && e.limitGpus > 0);
  if (!usable.length) return [];
  await tx.quota.createMany({ data: usable.map((e) => ({ orgId, regionId: e.region.id, gpuTypeId: e.gpuType.id, limitGpus: e.limitGpus })) });
  await recordAudit(tx, actor, {
    orgId,
    action: "quota.starter_granted",
    targetType: "Organization",
    targetId: orgId,
    after: { source: "starter quota set by the platform administrators", quotas: describe(usable) },
  });
  return usable;
}
