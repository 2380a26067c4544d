/**
 * Who may do what, checked once per call by the procedure ladder in trpc.ts: a person (session)
 * or an API key (Bearer), organisation membership or key ownership, roles, key scopes, and the
 * read-only state of a suspended organisation.
 */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { db } from "../db";
import type { OrgRole } from "../generated/prisma/enums";
import { roleAtLeast, ROLE_LABELS } from "../roles";
import { apiKeyActor, userActor, type ApiKeyPrincipal, type Context } from "./context";

export const orgInput = z.object({
  orgId: z.string({ error: "orgId is required: the organisation's id or slug" }).trim().min(1, "orgId is required: the organisation's id or slug").max(64, "orgId is too long").meta({ description: "The organisation's id or its slug (e.g. hopital-rive-gauche)" }),
});

type ProcedureType = "query" | "mutation" | "subscription";

/** The stable machine-readable reason of an access refusal, carried as the TRPCError's cause for REST's `code`. */
export class AccessRefusal extends Error {
  constructor(
    readonly apiCode: "unauthenticated" | "session_expired" | "not_a_member" | "insufficient_role" | "insufficient_scope" | "organization_suspended" | "platform_admin_only" | "person_only",
    message: string,
  ) {
    super(message);
    this.name = "AccessRefusal";
  }
}

const refuse = (code: "UNAUTHORIZED" | "FORBIDDEN", apiCode: AccessRefusal["apiCode"], message: string) =>
  new TRPCError({ code, message, cause: new AccessRefusal(apiCode, message) });

export async function requireUser(ctx: Context) {
  if (!ctx.userId) throw refuse("UNAUTHORIZED", "unauthenticated", "Sign in, or send an API key as Authorization: Bearer enc_…");
  const user = await db.user.findUnique({ where: { id: ctx.userId }, select: { id: true, email: true, name: true, platformAdmin: true } });
  if (!user) throw refuse("UNAUTHORIZED", "session_expired", "Your session has ended; sign in again");
  return user;
}

export function requirePlatformAdmin(user: { platformAdmin: boolean }) {
  if (!user.platformAdmin) throw refuse("FORBIDDEN", "platform_admin_only", "This area is for platform administrators");
}

/** `read` opens queries, `manage` opens queries and mutations; `inference` is for the gateway only. */
export function requireApiKeyScope(key: ApiKeyPrincipal, type: ProcedureType) {
  const needed = type === "query" ? "read" : "manage";
  const granted = key.scopes.includes("manage") || (needed === "read" && key.scopes.includes("read"));
  if (!granted) {
    throw refuse("FORBIDDEN", "insufficient_scope", `This API key lacks the "${needed}" scope (it has: ${key.scopes.join(", ") || "none"})`);
  }
}

/** The role an API key acts with: `manage` keys as Admin (never Owner), others as Viewer. */
const apiKeyRole = (key: ApiKeyPrincipal): OrgRole => (key.scopes.includes("manage") ? "ADMIN" : "VIEWER");

const orgSelect = { id: true, slug: true, name: true, status: true } as const;

/** `whileSuspended`: a mutation a suspended organisation may still run (its export; see ProcedureMeta). */
export async function requireOrgAccess(ctx: Context, required: OrgRole, orgIdOrSlug: string, type: ProcedureType, options: { whileSuspended?: boolean } = {}) {
  const notMember = () => refuse("FORBIDDEN", "not_a_member", "You are not a member of this organisation");
  let access: { org: { id: string; slug: string; name: string; status: "ACTIVE" | "SUSPENDED" }; role: OrgRole; actor: ReturnType<typeof userActor>; user: Awaited<ReturnType<typeof requireUser>> | null };

  if (ctx.apiKey) {
    requireApiKeyScope(ctx.apiKey, type);
    const org = await db.organization.findFirst({ where: { OR: [{ id: orgIdOrSlug }, { slug: orgIdOrSlug }] }, select: orgSelect });
    // The same answer whether the organisation exists or not: ids of other tenants reveal nothing.
    if (!org || org.id !== ctx.apiKey.orgId) throw refuse("FORBIDDEN", "not_a_member", "This API key belongs to another organisation");
    access = { org, role: apiKeyRole(ctx.apiKey), actor: apiKeyActor(ctx, ctx.apiKey), user: null };
  } else {
    const user = await requireUser(ctx);
    const membership = await db.membership.findFirst({
      where: { userId: user.id, org: { OR: [{ id: orgIdOrSlug }, { slug: orgIdOrSlug }] } },
      select: { role: true, org: { select: orgSelect } },
    });
    if (!membership) throw notMember();
    access = { org: membership.org, role: membership.role, actor: userActor(ctx, user), user };
  }

  if (!roleAtLeast(access.role, required)) {
    const who = ctx.apiKey ? `this API key acts as ${ROLE_LABELS[access.role]}` : `you are ${ROLE_LABELS[access.role]}`;
    throw refuse("FORBIDDEN", "insufficient_role", `This action needs the ${ROLE_LABELS[required]} role or higher; ${who}`);
  }
  // One rule for every mutation: a suspended organisation can read and export, and change nothing.
  if (type === "mutation" && access.org.status === "SUSPENDED" && !options.whileSuspended) {
    throw refuse("FORBIDDEN", "organization_suspended", `${access.org.name} is suspended: it can read and export its data but change nothing until a platform administrator reactivates it`);
  }
  return access;
}
