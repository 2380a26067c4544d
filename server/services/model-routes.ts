/**
 * Routes (docs/routes.md), `ModelRoute` in code: one model name that the organisation's programs
 * call, served by several of its deployments, with a mode (PRIORITY or WEIGHTED), a preference order
 * and weights. The gateway picks a member per request (server/gateway/model-routes.ts).
 *
 * A route's name and the deployments' names share one namespace per organisation (either would be
 * the `model` of a call): both sides take the same advisory lock on (organisation, name) and check
 * the other table. Every change is one transaction with its audit event and a NOTIFY on
 * `enclave_model_routes` (payload: the organisation's id), so every gateway process applies it on commit.
 */
import { classTooHighReason, MODEL_ROUTES_CHANNEL, type ModelRouteCreateInput, type ModelRouteUpdateInput } from "../../lib/model-routes";
import { DATA_CLASSIFICATIONS } from "../../lib/limits";
import { db, type Tx } from "../db";
import { badRequest, conflict, isUniqueViolation, notFound } from "../errors";
import type { DataClassification } from "../generated/prisma/enums";
import { recordAudit, type Actor } from "./audit";
import { evaluateResidency, type ResidencyPolicyRule } from "./policy";

const memberSelect = {
  position: true,
  weight: true,
  deployment: {
    select: {
      id: true,
      name: true,
      phase: true,
      desiredState: true,
      deletedAt: true,
      dataClassification: true,
      catalogModel: { select: { family: true, name: true, version: true } },
      region: { select: { id: true, code: true, name: true, jurisdiction: true, certifications: true, extraterritorialExposure: true } },
    },
  },
} as const;

const routeSelect = {
  id: true,
  name: true,
  mode: true,
  dataClassification: true,
  maxInFlightPerReplica: true,
  createdAt: true,
  updatedAt: true,
  members: { orderBy: { position: "asc" }, select: memberSelect },
} as const;

const isLive = (d: { deletedAt: Date | null; phase: string; desiredState: string }) => d.deletedAt === null && d.phase !== "DELETED" && d.desiredState !== "DELETED";

/** Serialises everything that claims a model name in one organisation: routes and deployments alike. */
export async function lockModelName(tx: Tx, orgId: string, name: string) {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`model-name:${orgId}:${name}`}))`;
}

/** For deployments.ts: refuses a deployment name that a route of the organisation already uses. */
export async function assertNoModelRouteNamed(tx: Tx, orgId: string, name: string) {
  await lockModelName(tx, orgId, name);
  if (await tx.modelRoute.findUnique({ where: { orgId_name: { orgId, name } }, select: { id: true } })) {
    throw conflict(`A route named ${name} already exists: a deployment and a route cannot share a name, since programs call either by it`, "name");
  }
}

type RouteRow = NonNullable<Awaited<ReturnType<typeof findRoute>>>;

function findRoute(client: Tx | typeof db, orgId: string, modelRouteId: string) {
  return client.modelRoute.findFirst({ where: { id: modelRouteId, orgId }, select: routeSelect });
}

/** A route as the API returns it: members in order, each with what the gateway would say per data class. */
function present(route: RouteRow, policies: Map<string, ResidencyPolicyRule>) {
  return {
    id: route.id,
    name: route.name,
    mode: route.mode,
    dataClassification: route.dataClassification,
    maxInFlightPerReplica: route.maxInFlightPerReplica,
    createdAt: route.createdAt,
    updatedAt: route.updatedAt,
    members: route.members.map(({ position, weight, deployment: d }) => ({
      position,
      weight,
      deploymentId: d.id,
      deploymentName: d.name,
      phase: d.phase,
      live: isLive(d),
      deploymentDataClassification: d.dataClassification,
      model: `${d.catalogModel.name} ${d.catalogModel.version}`,
      modelFamily: d.catalogModel.family,
      region: { id: d.region.id, code: d.region.code, name: d.region.name, jurisdiction: d.region.jurisdiction },
      // The same two rules the gateway applies per request (server/gateway/model-routes.ts).
      dataClasses: DATA_CLASSIFICATIONS.map((dataClassification) => {
        const tooHigh = classTooHighReason(dataClassification, d.dataClassification);
        const verdict = evaluateResidency(dataClassification, policies.get(dataClassification) ?? null, d.region);
        const reasons = [...(tooHigh ? [tooHigh] : []), ...verdict.reasons];
        return { dataClassification, allowed: tooHigh === null && verdict.allowed, reasons };
      }),
    })),
  };
}

export type ModelRouteView = ReturnType<typeof present>;

async function policiesOf(orgId: string): Promise<Map<string, ResidencyPolicyRule>> {
  const rows = await db.residencyPolicy.findMany({
    where: { orgId },
    select: { dataClassification: true, allowedJurisdictions: true, requiredCertifications: true, allowedRegionIds: true, allowExtraterritorial: true },
  });
  return new Map(rows.map((p) => [p.dataClassification, p]));
}

export async function listModelRoutes(orgId: string): Promise<ModelRouteView[]> {
  const [routes, policies] = await Promise.all([db.modelRoute.findMany({ where: { orgId }, orderBy: { name: "asc" }, select: routeSelect }), policiesOf(orgId)]);
  return routes.map((r) => present(r, policies));
}

export async function getModelRoute(orgId: string, modelRouteId: string): Promise<ModelRouteView> {
  const [route, policies] = await Promise.all([findRoute(db, orgId, modelRouteId), policiesOf(orgId)]);
  if (!route) throw notFound("Route");
  return present(route, policies);
}

/**
 * The members must be live deployments of this organisation: another organisation's id is "not
 * found" (its existence is not disclosed); a deleted one is refused by name.
 */
async function checkMembers(tx: Tx, orgId: string, members: { deploymentId: string }[]) {
  const ids = members.map((m) => m.deploymentId);
  const found = await tx.deployment.findMany({ where: { id: { in: ids }, orgId }, select: { id: true, name: true, phase: true, desiredState: true, deletedAt: true } });
  const byId = new Map(found.map((d) => [d.id, d]));
  for (const [i, id] of ids.entries()) {
    const d = byId.get(id);
    // Neither echoed nor confirmed: the id may be another organisation's.
    if (!d) throw notFound(`The deployment of member ${i + 1}`);
    if (!isLive(d)) throw badRequest(`The deployment ${d.name} is deleted or being deleted: a route cannot send requests to it`, "members");
  }
  return byId;
}

/** What the audit trail keeps of a route: its settings and members by id and name. */
export function modelRouteAuditView(route: { name: string; mode: string; dataClassification: string; maxInFlightPerReplica: number }, members: { deploymentId: string; weight: number }[], names: Map<string, { name: string }>) {
  return {
    name: route.name,
    mode: route.mode,
    dataClassification: route.dataClassification,
    maxInFlightPerReplica: route.maxInFlightPerReplica,
    members: members.map((m, position) => ({ position, deploymentId: m.deploymentId, deploymentName: names.get(m.deploymentId)?.name ?? null, weight: m.weight })),
  };
}

async function notifyGateways(tx: Tx, orgId: string) {
  await tx.$executeRaw`SELECT pg_notify(${MODEL_ROUTES_CHANNEL}, ${orgId})`;
}

const memberRows = (members: { deploymentId: string; weight: number }[]) => members.map((m, position) => ({ deploymentId: m.deploymentId, weight: m.weight, position }));

export async function createModelRoute(orgId: string, actor: Actor, input: ModelRouteCreateInput): Promise<ModelRouteView> {
  try {
    const id = await db.$transaction(async (tx) => {
      await lockModelName(tx, orgId, input.name);
      const clash = await tx.deployment.findFirst({ where: { orgId, name: input.name }, select: { id: true } });
      if (clash) throw conflict(`A deployment named ${input.name} already exists: a route and a deployment cannot share a name, since programs call either by it`, "name");
      if (await tx.modelRoute.findUnique({ where: { orgId_name: { orgId, name: input.name } }, select: { id: true } })) throw conflict(`A route named ${input.name} already exists`, "name");
      const names = await checkMembers(tx, orgId, input.members);
      const route = await tx.modelRoute.create({
        data: {
          orgId,
          name: input.name,
          mode: input.mode,
          dataClassification: input.dataClassification as DataClassification,
          maxInFlightPerReplica: input.maxInFlightPerReplica,
          members: { create: memberRows(input.members) },
        },
        select: { id: true },
      });
      await recordAudit(tx, actor, { orgId, action: "model_route.created", targetType: "ModelRoute", targetId: route.id, after: modelRouteAuditView(input, input.members, names) });
      await notifyGateways(tx, orgId);
      return route.id;
    });
    return getModelRoute(orgId, id);
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`A route named ${input.name} already exists`, "name");
    throw error;
  }
}

export async function updateModelRoute(orgId: string, actor: Actor, modelRouteId: string, input: ModelRouteUpdateInput): Promise<ModelRouteView> {
  await db.$transaction(async (tx) => {
    const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "ModelRoute" WHERE id = ${modelRouteId} AND "orgId" = ${orgId} FOR UPDATE`;
    if (locked.length === 0) throw notFound("Route");
    const before = (await findRoute(tx, orgId, modelRouteId))!;
    const beforeMembers = before.members.map((m) => ({ deploymentId: m.deployment.id, weight: m.weight }));
    const members = input.members ?? beforeMembers;
    const names = new Map(before.members.map((m) => [m.deployment.id, { name: m.deployment.name }]));
    if (input.members) for (const [id, d] of await checkMembers(tx, orgId, input.members)) names.set(id, d);
    const after = {
      name: before.name,
      mode: input.mode ?? before.mode,
      dataClassification: input.dataClassification ?? before.dataClassification,
      maxInFlightPerReplica: input.maxInFlightPerReplica ?? before.maxInFlightPerReplica,
    };
    const beforeView = modelRouteAuditView(before, beforeMembers, names);
    const afterView = modelRouteAuditView(after, members, names);
    // Saving it unchanged writes nothing (no event, no NOTIFY).
    if (JSON.stringify(beforeView) === JSON.stringify(afterView)) return;
    await tx.modelRoute.update({
      where: { id: modelRouteId },
      data: { mode: after.mode, dataClassification: after.dataClassification as DataClassification, maxInFlightPerReplica: after.maxInFlightPerReplica },
    });
    if (input.members) {
      await tx.modelRouteMember.deleteMany({ where: { modelRouteId } });
      await tx.modelRouteMember.createMany({ data: memberRows(input.members).map((m) => ({ ...m, modelRouteId })) });
    }
    await recordAudit(tx, actor, { orgId, action: "model_route.updated", targetType: "ModelRoute", targetId: modelRouteId, before: beforeView, after: afterView });
    await notifyGateways(tx, orgId);
  });
  return getModelRoute(orgId, modelRouteId);
}

export async function deleteModelRoute(orgId: string, actor: Actor, modelRouteId: string) {
  return db.$transaction(async (tx) => {
    const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "ModelRoute" WHERE id = ${modelRouteId} AND "orgId" = ${orgId} FOR UPDATE`;
    if (locked.length === 0) throw notFound("Route");
    const before = (await findRoute(tx, orgId, modelRouteId))!;
    const names = new Map(before.members.map((m) => [m.deployment.id, { name: m.deployment.name }]));
    await tx.modelRoute.delete({ where: { id: modelRouteId } });
    await recordAudit(tx, actor, {
      orgId,
      action: "model_route.deleted",
      targetType: "ModelRoute",
      targetId: modelRouteId,
      before: modelRouteAuditView(before, before.members.map((m) => ({ deploymentId: m.deployment.id, weight: m.weight })), names),
    });
    await notifyGateways(tx, orgId);
    return { id: modelRouteId, name: before.name, deleted: true as const };
  });
}
