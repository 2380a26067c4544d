/**
 * Access checks for console pages (server components), so that a page someone may not see
 * answers with an HTTP status, not a 200 whose content says no: an organisation the person is
 * not a member of is a 404 (the same whether it exists or not, as the API's answer reveals
 * nothing either), the admin area for a non-admin a 403. The API enforces the same rules itself.
 */
import { forbidden, notFound } from "next/navigation";
import { cache } from "react";
import { db } from "./db";
import { traceExists } from "./services/traces";
import { requireUser } from "./session";

/** The signed-in person's membership of the organisation with this slug, or the 404 page. */
export const requireOrgMembership = cache(async (slug: string) => {
  const user = await requireUser(`/o/${slug}`);
  const membership = await db.membership.findFirst({ where: { userId: user.id, org: { slug } }, select: { role: true, org: { select: { id: true, slug: true, name: true, status: true } } } });
  if (!membership) notFound();
  return { user, role: membership.role, org: membership.org };
});

/** A deployment page of that organisation: the 404 page for another organisation's deployment id. */
export async function requireOrgDeployment(slug: string, deploymentId: string) {
  const { org } = await requireOrgMembership(slug);
  const found = await db.deployment.count({ where: { id: deploymentId, orgId: org.id } });
  if (found === 0) notFound();
}

/** A trace page of that organisation: the 404 page for a malformed id or another organisation's trace. */
export async function requireOrgTrace(slug: string, traceId: string) {
  const { org } = await requireOrgMembership(slug);
  if (!(await traceExists(org.id, traceId))) notFound();
}

/** A platform administrator, or the 403 page. */
export async function requirePlatformAdmin(callbackUrl: string) {
  const user = await requireUser(callbackUrl);
  if (!user.platformAdmin) forbidden();
  return user;
}
