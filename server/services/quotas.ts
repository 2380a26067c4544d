import { db, type Tx } from "../db";
import { DomainError, badRequest, conflict, notFound, preconditionFailed } from "../errors";
import type { QuotaRequestStatus } from "../generated/prisma/enums";
import { recordAudit, type Actor, accountableUserId } from "./audit";
import { consoleUrl, queueMail } from "./mail";
import { quotaDecisionMail } from "./mail-templates";

/**
 * Quotas: how many GPUs of a type an organisation may reserve in a region (`limitGpus`), and how
 * many it has reserved (`allocatedGpus`, moved only by allocation.ts). Tenants ask for more with
 * a quota request; platform admins decide, or set a quota directly. Every change is audited in
 * the organisation's own chain, so the tenant sees it in its trail.
 */

const STATUS_WORDS: Record<QuotaRequestStatus, string> = {
  PENDING: "pending",
  APPROVED: "approved",
  PARTIALLY_APPROVED: "partially approved",
  REJECTED: "rejected",
  CANCELLED: "cancelled",
};

const gpus = (n: number) => `${n} GPU${n === 1 ? "" : "s"}`;

/**
 * Serialises changes to one org × region × GPU type quota (creating the row included), so two
 * admins, or an admin and a decision, cannot both create it or both read the old limit.
 */
type QuotaKey = { orgId: string; regionId: string; gpuTypeId: string };

function lockQuotaKey(tx: Tx, key: QuotaKey) {
  return tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`quota:${key.orgId}:${key.regionId}:${key.gpuTypeId}`}))`;
}

async function lockQuota(tx: Tx, key: QuotaKey) {
  await lockQuotaKey(tx, key);
  // The row lock as well: reservations update the row without the advisory lock.
  const [quota] = await tx.$queryRaw<{ id: string; limitGpus: number; allocatedGpus: number }[]>`
    SELECT id, "limitGpus", "allocatedGpus" FROM "Quota"
    WHERE "orgId" = ${key.orgId} AND "regionId" = ${key.regionId} AND "gpuTypeId" = ${key.gpuTypeId} FOR UPDATE`;
  return quota ?? null;
}

/** The region and GPU type of a quota, with whether the region offers that type. Refusals name the field. */
async function quotaTarget(tx: Tx, input: { regionId: string; gpuTypeId: string }) {
  // One query at a time: a transaction is one connection.
  const region = await tx.region.findUnique({ where: { id: input.regionId }, select: { id: true, code: true, status: true, capacities: { where: { gpuTypeId: input.gpuTypeId }, select: { id: true } } } });
  if (!region) throw new DomainError("NOT_FOUND", "Region was not found", { field: "regionId" });
  const gpuType = await tx.gpuType.findUnique({ where: { id: input.gpuTypeId }, select: { id: true, code: true } });
  if (!gpuType) throw new DomainError("NOT_FOUND", "GPU type was not found", { field: "gpuTypeId" });
  return { region, gpuType, offered: region.capacities.length > 0 };
}

// ─── Read models ─────────────────────────────────────────────────────────────

/** What the tenant's and the admins' views of a quota request both show. */
const requestFields = {
  id: true,
  additionalGpus: true,
  approvedGpus: true,
  justification: true,
  status: true,
  decisionNote: true,
  createdAt: true,
  decidedAt: true,
} as const;

/** An organisation's quotas (limit, allocated, free per region × GPU type) and its recent requests. */
export async function listQuotas(orgId: string) {
  const [quotas, requests] = await Promise.all([
    db.quota.findMany({
      where: { orgId },
      select: {
        id: true,
        limitGpus: true,
        allocatedGpus: true,
        updatedAt: true,
        region: { select: { id: true, code: true, name: true, status: true, statusReason: true } },
        gpuType: { select: { id: true, code: true, name: true } },
      },
      orderBy: [{ region: { code: "asc" } }, { gpuType: { code: "asc" } }],
    }),
    db.quotaRequest.findMany({
      where: { orgId },
      orderBy: { createdAt: "desc" },
      take: 50,
      select: {
        ...requestFields,
        region: { select: { id: true, code: true, name: true } },
        gpuType: { select: { id: true, code: true, name: true } },
        requestedBy: { select: { name: true } },
      },
    }),
  ]);
  return {
    quotas: quotas.map((q) => ({ ...q, freeGpus: Math.max(0, q.limitGpus - q.allocatedGpus) })),
    requests,
  };
}

/** Every quota request, pending first, with the organisation's current limit and use for that region × GPU type. */
export async function listQuotaRequestsForAdmins() {
  const requests = await db.quotaRequest.findMany({
    orderBy: [{ status: "asc" }, { createdAt: "asc" }],
    select: {
      ...requestFields,
      org: { select: { id: true, name: true, slug: true, status: true } },
      region: { select: { id: true, code: true, name: true, status: true } },
      gpuType: { select: { id: true, code: true, name: true } },
      requestedBy: { select: { name: true, email: true } },
      decidedBy: { select: { name: true, email: true } },
    },
  });
  const quotas = await db.quota.findMany({
    where: { orgId: { in: [...new Set(requests.map((r) => r.org.id))] } },
    select: { orgId: true, regionId: true, gpuTypeId: true, limitGpus: true, allocatedGpus: true },
  });
  const quotaOf = new Map(quotas.map((q) => [`${q.orgId}/${q.regionId}/${q.gpuTypeId}`, q]));
  return requests.map((r) => {
    const q = quotaOf.get(`${r.org.id}/${r.region.id}/${r.gpuType.id}`);
    // "Current use": the organisation's limit and allocation there now (0 and 0 without a quota).
    return { ...r, currentLimitGpus: q?.limitGpus ?? 0, currentAllocatedGpus: q?.allocatedGpus ?? 0 };
  });
}

/**
 * The platform's view: one row per organisation × region × GPU type with a quota — its limit and
 * allocation — beside the region's capacity for that GPU type: total, allocated by everyone, free,
 * and the sum of every organisation's limit there (which may exceed the total: quotas are
 * promises, capacity is hardware).
 */
export async function quotasOverview() {
  const [quotas, capacities] = await Promise.all([
    db.quota.findMany({
      select: {
        id: true,
        limitGpus: true,
        allocatedGpus: true,
        updatedAt: true,
        org: { select: { id: true, name: true, slug: true, status: true } },
        region: { select: { id: true, code: true, name: true, status: true } },
        gpuType: { select: { id: true, code: true, name: true } },
      },
      orderBy: [{ org: { name: "asc" } }, { region: { code: "asc" } }, { gpuType: { code: "asc" } }],
    }),
    db.regionCapacity.findMany({ select: { regionId: true, gpuTypeId: true, totalGpus: true, allocatedGpus: true } }),
  ]);
  const key = (regionId: string, gpuTypeId: string) => `${regionId}/${gpuTypeId}`;
  const promised = new Map<string, number>();
  for (const q of quotas) promised.set(key(q.region.id, q.gpuType.id), (promised.get(key(q.region.id, q.gpuType.id)) ?? 0) + q.limitGpus);
  const capacityOf = new Map(capacities.map((c) => [key(c.regionId, c.gpuTypeId), c]));
  return quotas.map((q) => {
    const c = capacityOf.get(key(q.region.id, q.gpuType.id));
    return {
      ...q,
      freeGpus: Math.max(0, q.limitGpus - q.allocatedGpus),
      // Null when the region no longer offers this GPU type.
      capacity: c
        ? { totalGpus: c.totalGpus, allocatedGpus: c.allocatedGpus, freeGpus: Math.max(0, c.totalGpus - c.allocatedGpus), quotaLimitGpus: promised.get(key(q.region.id, q.gpuType.id)) ?? 0 }
        : null,
    };
  });
}

// ─── Platform administration ─────────────────────────────────────────────────

/** Creates or changes a quota; never below what the organisation has allocated. */
export async function setQuota(actor: Actor, input: { orgId: string; regionId: string; gpuTypeId: string; limitGpus: number }) {
  return db.$transaction(async (tx) => {
    const org = await tx.organization.findUnique({ where: { id: input.orgId }, select: { id: true, name: true } });
    if (!org) throw new DomainError("NOT_FOUND", "Organisation was not found", { field: "orgId" });
    const { region, gpuType, offered } = await quotaTarget(tx, input);
    const before = await lockQuota(tx, input);
    const previous = before?.limitGpus ?? 0;
    if (!offered && input.limitGpus > previous) throw badRequest(`Region ${region.code} offers no ${gpuType.code} GPUs; add that capacity to the region first`, "gpuTypeId");
    if (before && previous === input.limitGpus) throw conflict(`${org.name}'s quota for ${gpuType.code} in ${region.code} is already ${gpus(input.limitGpus)}`, "limitGpus");
    if (before && input.limitGpus < before.allocatedGpus) {
      throw preconditionFailed(
        `Cannot lower the quota to ${input.limitGpus}: ${org.name} has ${before.allocatedGpus} ${gpuType.code} allocated in ${region.code}`,
        "limitGpus",
      );
    }
    if (region.status === "RETIRED" && input.limitGpus > previous) throw preconditionFailed(`Region ${region.code} is retired: its quotas can only be lowered`, "regionId");
    const quota = before
      ? await tx.quota.update({ where: { id: before.id }, data: { limitGpus: input.limitGpus } })
      : await tx.quota.create({ data: { orgId: org.id, regionId: region.id, gpuTypeId: gpuType.id, limitGpus: input.limitGpus } });
    await recordAudit(tx, actor, {
      orgId: org.id,
      action: "quota.set",
      targetType: "Quota",
      targetId: quota.id,
      before: before ? { region: region.code, gpuType: gpuType.code, limitGpus: before.limitGpus, allocatedGpus: before.allocatedGpus } : null,
      after: { region: region.code, gpuType: gpuType.code, limitGpus: quota.limitGpus, allocatedGpus: quota.allocatedGpus },
    });
    return quota;
  });
}

export type QuotaDecision = "approve" | "partial" | "reject";

const DECISION_STATUS: Record<QuotaDecision, QuotaRequestStatus> = { approve: "APPROVED", partial: "PARTIALLY_APPROVED", reject: "REJECTED" };
const DECISION_ACTION: Record<QuotaDecision, string> = {
  approve: "quota.request_approved",
  partial: "quota.request_partially_approved",
  reject: "quota.request_rejected",
};

/**
 * Approves (the GPUs asked for), partially approves (1 to asked − 1 GPUs) or rejects (with a note)
 * a pending request. Granted GPUs are added to the quota, which is created if needed.
 */
export async function decideQuotaRequest(
  actor: Actor & { id: string },
  input: { requestId: string; decision: QuotaDecision; approvedGpus?: number | null; note?: string | null },
) {
  const note = input.note?.trim() || null;
  return db.$transaction(async (tx) => {
    const request = await tx.quotaRequest.findUnique({
      where: { id: input.requestId },
      include: { org: { select: { name: true, slug: true } }, region: { select: { code: true, status: true } }, gpuType: { select: { code: true } }, requestedBy: { select: { email: true } } },
    });
    if (!request) throw new DomainError("NOT_FOUND", "Quota request was not found", { field: "requestId" });
    if (request.status !== "PENDING") throw conflict(`This request is already ${STATUS_WORDS[request.status]}; only pending requests can be decided`);

    const asked = request.additionalGpus;
    let granted = 0;
    if (input.decision === "approve") {
      if (input.approvedGpus != null && input.approvedGpus !== asked) {
        throw badRequest(`An approval grants the ${gpus(asked)} requested; choose a partial approval to grant fewer`, "approvedGpus");
      }
      granted = asked;
    } else if (input.decision === "partial") {
      if (asked === 1) throw badRequest("A request for 1 GPU can only be approved or rejected", "decision");
      if (input.approvedGpus == null) throw badRequest(`Say how many GPUs to grant, from 1 to ${asked - 1}`, "approvedGpus");
      if (input.approvedGpus < 1 || input.approvedGpus >= asked) {
        throw badRequest(`A partial approval grants from 1 to ${asked - 1} GPUs: ${asked} were requested`, "approvedGpus");
      }
      granted = input.approvedGpus;
    } else {
      if (input.approvedGpus != null) throw badRequest("A rejection grants no GPUs", "approvedGpus");
      if (!note) throw badRequest(`Explain the rejection; ${request.org.name} sees this note`, "note");
    }
    if (granted > 0 && request.region.status === "RETIRED") {
      throw preconditionFailed(`Region ${request.region.code} is retired: reject the request instead`, "decision");
    }

    // Conditional on PENDING: a concurrent decision or cancellation makes this one fail, not both succeed.
    const decided = await tx.quotaRequest.updateMany({
      where: { id: request.id, status: "PENDING" },
      data: { status: DECISION_STATUS[input.decision], approvedGpus: granted > 0 ? granted : null, decisionNote: note, decidedById: actor.id, decidedAt: new Date() },
    });
    if (decided.count === 0) throw conflict("This request was decided or cancelled a moment ago; reload to see its status");
    await recordAudit(tx, actor, {
      orgId: request.orgId,
      action: DECISION_ACTION[input.decision],
      targetType: "QuotaRequest",
      targetId: request.id,
      before: { status: "PENDING", region: request.region.code, gpuType: request.gpuType.code, additionalGpus: asked },
      after: { status: DECISION_STATUS[input.decision], approvedGpus: granted > 0 ? granted : null, decisionNote: note },
    });

    let quota = null;
    if (granted > 0) {
      const key = { orgId: request.orgId, regionId: request.regionId, gpuTypeId: request.gpuTypeId };
      const before = await lockQuota(tx, key);
      quota = before
        ? await tx.quota.update({ where: { id: before.id }, data: { limitGpus: { increment: granted } } })
        : await tx.quota.create({ data: { ...key, limitGpus: granted } });
      await recordAudit(tx, actor, {
        orgId: request.orgId,
        action: "quota.increased",
        targetType: "Quota",
        targetId: quota.id,
        before: before ? { region: request.region.code, gpuType: request.gpuType.code, limitGpus: before.limitGpus } : null,
        after: { region: request.region.code, gpuType: request.gpuType.code, limitGpus: quota.limitGpus, quotaRequestId: request.id },
      });
    }
    const mail = quotaDecisionMail({
      orgName: request.org.name,
      decision: input.decision,
      region: request.region.code,
      gpuType: request.gpuType.code,
      askedGpus: asked,
      grantedGpus: granted,
      note,
      quotasUrl: consoleUrl(`/o/${request.org.slug}/quotas`),
    });
    await queueMail(tx, { kind: "QUOTA_DECISION", orgId: request.orgId, to: [request.requestedBy.email], mail });
    const updated = await tx.quotaRequest.findUniqueOrThrow({ where: { id: request.id } });
    return { request: updated, quota };
  });
}

// ─── Tenants ─────────────────────────────────────────────────────────────────

export async function requestQuotaIncrease(
  orgId: string,
  actor: Actor & { id: string },
  input: { regionId: string; gpuTypeId: string; additionalGpus: number; justification: string },
) {
  return db.$transaction(async (tx) => {
    const { region, gpuType, offered } = await quotaTarget(tx, input);
    if (region.status === "RETIRED") throw preconditionFailed(`Region ${region.code} is retired; choose another region`, "regionId");
    if (!offered) throw badRequest(`Region ${region.code} offers no ${gpuType.code} GPUs`, "gpuTypeId");
    // Two requests sent at once cannot both pass the "already pending" check.
    await lockQuotaKey(tx, { orgId, regionId: region.id, gpuTypeId: gpuType.id });
    const pending = await tx.quotaRequest.findFirst({ where: { orgId, regionId: region.id, gpuTypeId: gpuType.id, status: "PENDING" }, select: { additionalGpus: true } });
    if (pending) {
      throw conflict(`A request for ${pending.additionalGpus} more ${gpuType.code} in ${region.code} is already pending; cancel it to send a new one`, "gpuTypeId");
    }
    const request = await tx.quotaRequest.create({
      data: { orgId, regionId: region.id, gpuTypeId: gpuType.id, additionalGpus: input.additionalGpus, justification: input.justification, requestedById: accountableUserId(actor) },
    });
    await recordAudit(tx, actor, {
      orgId,
      action: "quota.requested",
      targetType: "QuotaRequest",
      targetId: request.id,
      after: { region: region.code, gpuType: gpuType.code, additionalGpus: input.additionalGpus, justification: input.justification },
    });
    return request;
  });
}

export async function cancelQuotaRequest(orgId: string, actor: Actor, input: { requestId: string }) {
  return db.$transaction(async (tx) => {
    const request = await tx.quotaRequest.findFirst({ where: { id: input.requestId, orgId }, select: { id: true, status: true, additionalGpus: true } });
    if (!request) throw notFound("Quota request");
    if (request.status !== "PENDING") throw conflict(`This request is already ${STATUS_WORDS[request.status]}; only pending requests can be cancelled`);
    const cancelled = await tx.quotaRequest.updateMany({ where: { id: request.id, orgId, status: "PENDING" }, data: { status: "CANCELLED" } });
    if (cancelled.count === 0) throw conflict("This request was decided a moment ago; reload to see its status");
    await recordAudit(tx, actor, {
      orgId,
      action: "quota.request_cancelled",
      targetType: "QuotaRequest",
      targetId: request.id,
      before: { status: "PENDING", additionalGpus: request.additionalGpus },
      after: { status: "CANCELLED" },
    });
    return { id: request.id, status: "CANCELLED" as const };
  });
}
