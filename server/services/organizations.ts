import { randomBytes } from "node:crypto";
import { db, type Tx } from "../db";
import { conflict, notFound } from "../errors";
import { recordAudit, type Actor } from "./audit";

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
  const [members, deployments, running, apiKeys, quotas, pendingRequests, usage] = await Promise.all([
    db.membership.count({ where: { orgId } }),
    db.deployment.count({ where: { orgId, deletedAt: null } }),
    db.deployment.count({ where: { orgId, deletedAt: null, phase: "RUNNING" } }),
    db.apiKey.count({ where: { orgId, revokedAt: null } }),
    db.quota.findMany({ where: { orgId }, select: { limitGpus: true } }),
    db.quotaRequest.count({ where: { orgId, status: "PENDING" } }),
    db.usageRecord.aggregate({
      where: { orgId, createdAt: { gte: new Date(Date.now() - 30 * 24 * 3600 * 1000) } },
      _count: true,
      _sum: { costMicroEur: true, tokensIn: true, tokensOut: true },
    }),
  ]);
  return {
    members,
    deployments,
    runningDeployments: running,
    activeApiKeys: apiKeys,
    quotaGpus: quotas.reduce((sum, q) => sum + q.limitGpus, 0),
    pendingQuotaRequests: pendingRequests,
    last30Days: {
      requests: usage._count,
      tokens: (usage._sum.tokensIn ?? 0) + (usage._sum.tokensOut ?? 0),
      costEur: (usage._sum.costMicroEur ?? 0) / 1_000_000,
    },
  };
}
