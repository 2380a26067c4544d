import { db } from "../db";
import { badRequest } from "../errors";
import { PLATFORM_CHAIN, verifyAuditChain } from "./audit";

export async function auditTrail(chain: { orgId: string | null }, page: { cursor?: string; limit: number }) {
  // A cursor must be an event of this chain: Prisma reads an unknown one as an empty page.
  if (page.cursor && !(await db.auditEvent.findFirst({ where: { id: page.cursor, chain: chain.orgId ?? PLATFORM_CHAIN }, select: { id: true } }))) {
    throw badRequest("This cursor does not point into the list (any more); start again without a cursor", "cursor");
  }
  const events = await db.auditEvent.findMany({
    where: { chain: chain.orgId ?? PLATFORM_CHAIN },
    orderBy: { seq: "desc" },
    take: page.limit + 1,
    ...(page.cursor ? { cursor: { id: page.cursor }, skip: 1 } : {}),
    select: { id: true, seq: true, actorType: true, actorLabel: true, action: true, targetType: true, targetId: true, before: true, after: true, ip: true, createdAt: true, hash: true },
  });
  const hasMore = events.length > page.limit;
  const items = hasMore ? events.slice(0, page.limit) : events;
  return { items, nextCursor: hasMore ? items.at(-1)!.id : null };
}

export function verifyTrail(orgId: string | null) {
  return verifyAuditChain(db, orgId ?? PLATFORM_CHAIN);
}

export function listResidencyPolicies(orgId: string) {
  return db.residencyPolicy.findMany({ where: { orgId }, orderBy: { dataClassification: "asc" } });
}
