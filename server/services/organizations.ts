import { randomBytes } from "node:crypto";
import { db, type Tx } from "../db";
import { DomainError, badRequest, conflict, notFound } from "../errors";
import type { OrgStatus } from "../generated/prisma/enums";
import { RECONCILE_CHANNEL } from "./channels";
import { recordAudit, type Actor } from "./audit";
import { applyStarterQuotaInTx } from "./starter-quota";
import { NO_SPEND, organizationActivity, spendByOrganization } from "./workloads";

export function slugify(name: string): string {
  return (
    name
      .normalize("NFKD")
      .replace(/[\u0300-\u036f]/g, "")
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 40) || "org"
  );
}

async function uniqueSlug(tx: Tx, name: string): Promise<string> {
  const base = slugify(name);
  if (!(await tx.organization.findUnique({ where: { slug: base }, select: { id: true } }))) return base;
  return `${base}-${randomBytes(3).toString("hex")}`;
}

/** Creates an organisation with `ownerId` as its owner, inside the caller's transaction. */
export async function createOrganizationInTx(tx: Tx, actor: Actor, input: { name: string; ownerId: string }) {
  const org = await tx.organization.create({ data: { name: input.name, slug: await uniqueSlug(tx, input.name) } });
  await tx.membership.create({ data: { orgId: org.id, userId: input.ownerId, role: "OWNER" } });
  await recordAudit(tx, actor, {
    orgId: org.id,
    action: "organization.created",
    targetType: "Organization",
    targetId: org.id,
    after: { name: org.name, slug: org.slug, owner: input.ownerId },
  });
  // The platform's starter quota, so the newcomer can deploy before any request is decided.
  await applyStarterQuotaInTx(tx, actor, org.id);
  return org;
}

export function createOrganization(actor: Actor & { id: string }, input: { name: string }) {
  return db.$transaction((tx) => createOrganizationInTx(tx, actor, { name: input.name, ownerId: actor.id }));
}

export async function renameOrganization(orgId: string, actor: Actor, input: { name: string }) {
  return db.$transaction(async (tx) => {
    const before = await tx.organization.findUnique({ where: { id: orgId } });
    if (!before) throw notFound("Organisation");
    if (before.name === input.name) throw conflict("The organisation already has this name", "name");
    const after = await tx.organization.update({ where: { id: orgId }, data: { name: input.name } });
    await recordAudit(tx, actor, { orgId, action: "organization.renamed", targetType: "Organization", targetId: orgId, before: { name: before.name }, after: { name: after.name } });
    return after;
  });
}

/** Counts for the overview page. */
export async function organizationOverview(orgId: string) {
  const [members, deployments, running, apiKeys, quotas, pendingRequests, activity] = await Promise.all([
    db.membership.count({ where: { orgId } }),
    db.deployment.count({ where: { orgId, deletedAt: null } }),
    db.deployment.count({ where: { orgId, deletedAt: null, phase: "RUNNING" } }),
    db.apiKey.count({ where: { orgId, revokedAt: null } }),
    db.quota.findMany({ where: { orgId }, select: { limitGpus: true } }),
    db.quotaRequest.count({ where: { orgId, status: "PENDING" } }),
    // From the roll-ups (usage.ts), like the usage page's 30-day figures.
    organizationActivity(orgId, "30d"),
  ]);
  return {
    members,
    deployments,
    runningDeployments: running,
    activeApiKeys: apiKeys,
    quotaGpus: quotas.reduce((sum, q) => sum + q.limitGpus, 0),
    pendingQuotaRequests: pendingRequests,
    last30Days: activity,
  };
}

/**
 * The first steps of a new organisation (docs/onboarding.md), each computed from its own data:
 * deploy (a deployment exists; done once one runs), create an API key, call it (a successful
 * request was recorded), see it in usage (the usage figures count it).
 */
export async function onboardingProgress(orgId: string) {
  const [deployments, running, apiKeys, calls, quotas, activity] = await Promise.all([
    db.deployment.count({ where: { orgId, deletedAt: null } }),
    db.deployment.findFirst({ where: { orgId, deletedAt: null, phase: "RUNNING" }, select: { id: true, name: true }, orderBy: { createdAt: "asc" } }),
    db.apiKey.count({ where: { orgId } }),
    db.usageRecord.count({ where: { orgId, status: { gte: 200, lt: 400 } }, take: 1 }),
    db.quota.findMany({
      where: { orgId },
      select: { limitGpus: true, allocatedGpus: true, region: { select: { code: true, name: true } }, gpuType: { select: { code: true, name: true } } },
      orderBy: [{ region: { code: "asc" } }, { gpuType: { code: "asc" } }],
    }),
    organizationActivity(orgId, "30d"),
  ]);
  const steps = {
    deploy: running ? "done" : deployments > 0 ? "in_progress" : "todo",
    apiKey: apiKeys > 0 ? "done" : "todo",
    call: calls > 0 ? "done" : "todo",
    usage: activity.requests > 0 ? "done" : "todo",
  } as const;
  return {
    steps,
    complete: Object.values(steps).every((s) => s === "done"),
    runningDeployment: running,
    deployableNow: quotas
      .filter((q) => q.limitGpus > q.allocatedGpus)
      .map((q) => ({ region: q.region, gpuType: q.gpuType, freeGpus: q.limitGpus - q.allocatedGpus })),
  };
}

/**
 * Suspends or reactivates an organisation (platform admins). A suspended organisation cannot
 * reserve GPUs (allocation.ts); stopping its deployments and refusing its keys belong to the
 * deployment and gateway code, which read `isOrganizationActive`.
 */
export async function setOrganizationStatus(actor: Actor, input: { orgId: string; status: OrgStatus; reason?: string | null }) {
  const reason = input.reason?.trim() || null;
  if (input.status === "SUSPENDED" && !reason) throw badRequest("Give the reason for the suspension; the organisation's members will see it", "reason");
  return db.$transaction(async (tx) => {
    // Lock the row: reservations hold a share lock on it, so they finish before the change, or see it.
    const [before] = await tx.$queryRaw<{ id: string; name: string; status: OrgStatus; statusReason: string | null }[]>`
      SELECT id, name, status, "statusReason" FROM "Organization" WHERE id = ${input.orgId} FOR UPDATE`;
    if (!before) throw new DomainError("NOT_FOUND", "Organisation was not found", { field: "orgId" });
    if (before.status === input.status) throw conflict(`${before.name} is already ${input.status === "ACTIVE" ? "active" : "suspended"}`, "status");
    const after = await tx.organization.update({
      where: { id: before.id },
      data: { status: input.status, statusReason: input.status === "SUSPENDED" ? reason : null },
      select: { id: true, name: true, slug: true, status: true, statusReason: true },
    });
    await recordAudit(tx, actor, {
      orgId: before.id,
      action: input.status === "SUSPENDED" ? "organization.suspended" : "organization.reactivated",
      targetType: "Organization",
      targetId: before.id,
      before: { status: before.status, statusReason: before.statusReason },
      after: { status: after.status, statusReason: after.statusReason, reason },
    });
    // Its deployments stop (or may be started again) at once: wake the reconcile loop on commit.
    await tx.$executeRaw`SELECT pg_notify(${RECONCILE_CHANNEL}, id) FROM "Deployment" WHERE "orgId" = ${before.id} AND phase <> 'DELETED'`;
    return after;
  });
}

export async function isOrganizationActive(client: Pick<Tx, "organization">, orgId: string): Promise<boolean> {
  const org = await client.organization.findUnique({ where: { id: orgId }, select: { status: true } });
  return org?.status === "ACTIVE";
}

/**
 * Refuses when the organisation is suspended. Takes a share lock on its row until the end of the
 * transaction, so a concurrent suspension waits for this transaction rather than racing it.
 */
export async function assertOrganizationActive(tx: Tx, orgId: string): Promise<{ id: string; name: string }> {
  const [org] = await tx.$queryRaw<{ id: string; name: string; status: OrgStatus; statusReason: string | null }[]>`
    SELECT id, name, status, "statusReason" FROM "Organization" WHERE id = ${orgId} FOR SHARE`;
  if (!org) throw notFound("Organisation");
  if (org.status !== "ACTIVE") {
    throw new DomainError("FORBIDDEN", `${org.name} is suspended${org.statusReason ? ` (${org.statusReason})` : ""}: it cannot reserve GPUs until a platform administrator reactivates it`);
  }
  return { id: org.id, name: org.name };
}

/** Every organisation with its members, deployments, quota, GPUs in use and spend over the last 30 days. */
export async function listOrganizationsForAdmins() {
  const [orgs, spend] = await Promise.all([
    db.organization.findMany({
      orderBy: { name: "asc" },
      select: {
        id: true,
        name: true,
        slug: true,
        status: true,
        statusReason: true,
        createdAt: true,
        _count: { select: { memberships: true, deployments: { where: { deletedAt: null } } } },
        quotas: { select: { limitGpus: true, allocatedGpus: true } },
      },
    }),
    spendByOrganization("30d"),
  ]);
  return orgs.map(({ quotas, _count, ...org }) => ({
    ...org,
    members: _count.memberships,
    deployments: _count.deployments,
    quotaGpus: quotas.reduce((s, q) => s + q.limitGpus, 0),
    gpusInUse: quotas.reduce((s, q) => s + q.allocatedGpus, 0),
    spendLast30Days: spend.get(org.id) ?? NO_SPEND,
  }));
}
