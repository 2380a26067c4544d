/**
 * Deployments, the tenant side: desired state only. Every change is one transaction that
 * validates, reserves or releases GPUs (allocation.ts), writes an audit event and notifies the
 * workers, whose reconcile loop makes the cluster match. Nothing here talks to a cluster.
 */
import { db, type Tx } from "../db";
import { badRequest, conflict, notFound, preconditionFailed } from "../errors";
import type { DataClassification } from "../generated/prisma/enums";
import { reserveGpus, releaseGpus } from "./allocation";
import { recordAudit, type Actor, accountableUserId } from "./audit";
import { evaluateResidency } from "./policy";
import { hourlyPriceEur } from "./pricing";
import { regionConnection } from "./regions";
import { RECONCILE_CHANNEL } from "./channels";
import { assertNoModelRouteNamed } from "./model-routes";
import { givenDeploymentName } from "../../lib/deployment-names";

/** Wakes the workers once the transaction commits (PostgreSQL delivers NOTIFY on commit only). */
async function notifyWorkers(tx: Tx, deploymentId: string) {
  await tx.$executeRaw`SELECT pg_notify(${RECONCILE_CHANNEL}, ${deploymentId})`;
}

/** GPUs one replica needs on a GPU type: enough memory for the weights, and the model's minimum. */
export function gpusPerReplicaFor(model: { gpuMemoryGb: number; minGpuCount: number }, gpuType: { memoryGb: number }): number {
  return Math.max(model.minGpuCount, Math.ceil(model.gpuMemoryGb / Math.max(1, gpuType.memoryGb)));
}

const deploymentSummary = {
  id: true,
  name: true,
  phase: true,
  desiredState: true,
  replicas: true,
  minReplicas: true,
  maxReplicas: true,
  gpusPerReplica: true,
  reservedGpus: true,
  dataClassification: true,
  endpoint: true,
  revision: true,
  createdAt: true,
  updatedAt: true,
  catalogModel: { select: { id: true, name: true, version: true, slug: true } },
  region: { select: { id: true, code: true, name: true } },
  gpuType: { select: { id: true, code: true } },
} as const;

export function listDeployments(orgId: string) {
  return db.deployment.findMany({ where: { orgId, phase: { not: "DELETED" } }, orderBy: { createdAt: "desc" }, select: deploymentSummary });
}

export async function getDeployment(orgId: string, deploymentId: string) {
  const d = await db.deployment.findFirst({
    where: { id: deploymentId, orgId },
    select: {
      ...deploymentSummary,
      deletedAt: true,
      conditions: true,
      previousModelId: true,
      catalogModel: { select: { id: true, name: true, version: true, slug: true, family: true } },
      region: { select: { id: true, code: true, name: true, capacities: { select: { gpuTypeId: true, priceCentsPerGpuHour: true } } } },
      replicaSet: { where: { state: { not: "gone" } }, orderBy: [{ revision: "desc" }, { ordinal: "asc" }], select: { id: true, ordinal: true, revision: true, state: true, endpoint: true, clusterRef: true, message: true, startedAt: true, readyAt: true } },
      events: { orderBy: { createdAt: "desc" }, take: 50, select: { id: true, type: true, reason: true, message: true, createdAt: true } },
    },
  });
  if (!d) throw notFound("Deployment");
  const price = d.region.capacities.find((c) => c.gpuTypeId === d.gpuType.id)?.priceCentsPerGpuHour ?? 0;
  const [previousModel, newerVersions] = await Promise.all([
    d.previousModelId ? db.catalogModel.findUnique({ where: { id: d.previousModelId }, select: { id: true, name: true, version: true } }) : null,
    db.catalogModel.findMany({ where: { family: d.catalogModel.family, status: "ACTIVE", id: { not: d.catalogModel.id } }, select: { id: true, name: true, version: true } }),
  ]);
  const { capacities: _capacities, ...region } = d.region;
  // A deleted deployment shows the name it was given, not the freed one the worker stored.
  return { ...d, name: givenDeploymentName(d.name), region, pricePerHourEur: hourlyPriceEur(price, d.replicas * d.gpusPerReplica), previousModel, otherVersions: newerVersions };
}

/**
 * What the wizard offers for a model and a data class: every region with, for each GPU type the
 * model fits, the GPUs per replica, the price and what is free; and for refused regions, why.
 */
export async function deploymentOptions(orgId: string, input: { catalogModelId: string; dataClassification: DataClassification }) {
  const [model, org, regions, quotas, policy] = await Promise.all([
    db.catalogModel.findFirst({ where: { id: input.catalogModelId, status: "ACTIVE" }, include: { fitsGpuTypes: true, allowedRegions: { select: { id: true } } } }),
    db.organization.findUniqueOrThrow({ where: { id: orgId }, select: { status: true } }),
    db.region.findMany({ where: { status: { not: "RETIRED" } }, include: { capacities: { include: { gpuType: true } } }, orderBy: { code: "asc" } }),
    db.quota.findMany({ where: { orgId } }),
    db.residencyPolicy.findUnique({ where: { orgId_dataClassification: { orgId, dataClassification: input.dataClassification } } }),
  ]);
  if (!model) throw notFound("Catalog model");
  const fits = new Set(model.fitsGpuTypes.map((g) => g.id));
  const allowedRegionIds = new Set(model.allowedRegions.map((r) => r.id));
  return regions.map((region) => {
    const reasons: string[] = [];
    if (org.status !== "ACTIVE") reasons.push("Your organisation is suspended");
    if (region.status !== "ACTIVE") reasons.push(`Region is in ${region.status.toLowerCase()}${region.statusReason ? `: ${region.statusReason}` : ""}`);
    const connection = regionConnection(region);
    if (connection.reason) reasons.push(connection.reason);
    if (allowedRegionIds.size > 0 && !allowedRegionIds.has(region.id)) reasons.push(`${model.name} may not be deployed to this region`);
    const residency = evaluateResidency(input.dataClassification, policy, region);
    if (!residency.allowed) reasons.push(...residency.reasons);
    const gpuOptions = region.capacities
      .filter((c) => fits.has(c.gpuTypeId))
      .map((c) => {
        const quota = quotas.find((q) => q.regionId === region.id && q.gpuTypeId === c.gpuTypeId);
        const perReplica = gpusPerReplicaFor(model, c.gpuType);
        const quotaFree = quota ? quota.limitGpus - quota.allocatedGpus : 0;
        const regionFree = c.totalGpus - c.allocatedGpus;
        const refusal = !quota ? "No quota for this GPU type here" : quotaFree < perReplica ? `Quota: ${quotaFree} of ${quota.limitGpus} free, ${perReplica} needed per replica` : regionFree < perReplica ? `Region full: ${regionFree} free, ${perReplica} needed` : null;
        return {
          gpuTypeId: c.gpuTypeId,
          gpuTypeCode: c.gpuType.code,
          gpuTypeName: c.gpuType.name,
          gpusPerReplica: perReplica,
          priceCentsPerGpuHour: c.priceCentsPerGpuHour,
          pricePerReplicaHourEur: hourlyPriceEur(c.priceCentsPerGpuHour, perReplica),
          quotaFree,
          regionFree,
          maxReplicas: Math.max(0, Math.floor(Math.min(quotaFree, regionFree) / perReplica)),
          refusal,
        };
      });
    if (gpuOptions.length === 0) reasons.push(`This region has no GPU type that ${model.name} fits`);
    else if (gpuOptions.every((g) => g.refusal)) reasons.push(...new Set(gpuOptions.map((g) => g.refusal!)));
    return {
      region: { id: region.id, code: region.code, name: region.name, jurisdiction: region.jurisdiction, certifications: region.certifications, extraterritorialExposure: region.extraterritorialExposure, carbonIntensityGco2Kwh: region.carbonIntensityGco2Kwh, connected: connection.connected },
      allowed: reasons.length === 0,
      reasons,
      gpuOptions,
    };
  });
}

export interface CreateDeploymentInput {
  name: string;
  catalogModelId: string;
  regionId: string;
  gpuTypeId: string;
  replicas: number;
  minReplicas: number;
  maxReplicas: number;
  dataClassification: DataClassification;
}

export async function createDeployment(orgId: string, actor: Actor & { id: string }, input: CreateDeploymentInput) {
  if (input.minReplicas > input.maxReplicas) throw badRequest("Minimum replicas cannot exceed the maximum", "minReplicas");
  if (input.replicas < input.minReplicas || input.replicas > input.maxReplicas) throw badRequest(`Replicas must be between ${input.minReplicas} and ${input.maxReplicas}`, "replicas");
  const options = await deploymentOptions(orgId, { catalogModelId: input.catalogModelId, dataClassification: input.dataClassification });
  const option = options.find((o) => o.region.id === input.regionId);
  if (!option) throw badRequest("Unknown or retired region", "regionId");
  if (!option.allowed && option.reasons.some((r) => !r.startsWith("Quota") && !r.startsWith("Region full") && !r.startsWith("No quota"))) {
    throw preconditionFailed(`Cannot deploy to ${option.region.code}: ${option.reasons.join("; ")}`, "regionId");
  }
  const gpu = option.gpuOptions.find((g) => g.gpuTypeId === input.gpuTypeId);
  if (!gpu) throw badRequest("The model does not fit this GPU type, or the region does not offer it", "gpuTypeId");
  const gpus = gpu.gpusPerReplica * input.replicas;
  try {
    return await db.$transaction(async (tx) => {
      // Routes and deployments share the `model` namespace (docs/routes.md).
      await assertNoModelRouteNamed(tx, orgId, input.name);
      if (await tx.deployment.findUnique({ where: { orgId_name: { orgId, name: input.name } }, select: { id: true } })) {
        throw conflict(`A deployment named ${input.name} already exists`, "name");
      }
      // Reserved in the same transaction: if the reservation is refused, nothing was written.
      await reserveGpus(tx, { orgId, regionId: input.regionId, gpuTypeId: input.gpuTypeId, gpus });
      const d = await tx.deployment.create({
        data: {
          orgId,
          name: input.name,
          catalogModelId: input.catalogModelId,
          regionId: input.regionId,
          gpuTypeId: input.gpuTypeId,
          gpusPerReplica: gpu.gpusPerReplica,
          replicas: input.replicas,
          minReplicas: input.minReplicas,
          maxReplicas: input.maxReplicas,
          reservedGpus: gpus,
          dataClassification: input.dataClassification,
          createdById: accountableUserId(actor),
          events: { create: { type: "Normal", reason: "Created", message: `${input.replicas} replica(s) × ${gpu.gpusPerReplica} ${gpu.gpuTypeCode} requested in ${option.region.code}; ${gpus} GPU(s) reserved` } },
        },
      });
      await recordAudit(tx, actor, {
        orgId,
        action: "deployment.created",
        targetType: "Deployment",
        targetId: d.id,
        after: { name: d.name, model: input.catalogModelId, region: option.region.code, gpuType: gpu.gpuTypeCode, gpusPerReplica: gpu.gpusPerReplica, replicas: input.replicas, dataClassification: input.dataClassification },
      });
      await notifyWorkers(tx, d.id);
      return d;
    });
  } catch (error) {
    if ((error as { code?: string }).code === "P2002") throw conflict(`A deployment named ${input.name} already exists`, "name");
    throw error;
  }
}

type Operation = "scale" | "stop" | "start" | "retry" | "update" | "rollback" | "delete";

/** Loads the deployment row locked for this transaction, so concurrent operations serialise. */
async function lockDeployment(tx: Tx, orgId: string, deploymentId: string) {
  const rows = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "Deployment" WHERE id = ${deploymentId} AND "orgId" = ${orgId} FOR UPDATE`;
  if (rows.length === 0) throw notFound("Deployment");
  const d = await tx.deployment.findUniqueOrThrow({ where: { id: deploymentId }, include: { gpuType: true, catalogModel: true } });
  if (d.phase === "DELETED" || d.desiredState === "DELETED") throw conflict("This deployment is being deleted");
  return d;
}

async function operate(orgId: string, actor: Actor, deploymentId: string, op: Operation, act: (tx: Tx, d: Awaited<ReturnType<typeof lockDeployment>>) => Promise<{ before: object; after: object; event: string }>) {
  return db.$transaction(async (tx) => {
    const d = await lockDeployment(tx, orgId, deploymentId);
    const change = await act(tx, d);
    await tx.deploymentEvent.create({ data: { deploymentId, type: "Normal", reason: op.charAt(0).toUpperCase() + op.slice(1), message: change.event } });
    await recordAudit(tx, actor, { orgId, action: `deployment.${op}`, targetType: "Deployment", targetId: deploymentId, before: { name: d.name, ...change.before }, after: { name: d.name, ...change.after } });
    await notifyWorkers(tx, deploymentId);
    return { id: deploymentId };
  });
}

const allocationOf = (d: { orgId: string; regionId: string; gpuTypeId: string }, gpus: number) => ({ orgId: d.orgId, regionId: d.regionId, gpuTypeId: d.gpuTypeId, gpus });

export function scaleDeployment(orgId: string, actor: Actor, input: { deploymentId: string; replicas: number }) {
  return operate(orgId, actor, input.deploymentId, "scale", async (tx, d) => {
    if (input.replicas < d.minReplicas || input.replicas > d.maxReplicas) throw badRequest(`Replicas must be between ${d.minReplicas} and ${d.maxReplicas}`, "replicas");
    if (input.replicas === d.replicas) throw conflict(`The deployment already has ${d.replicas} replica(s)`, "replicas");
    const running = d.desiredState === "RUNNING" && d.phase !== "FAILED";
    const delta = (input.replicas - d.replicas) * d.gpusPerReplica;
    if (running && delta > 0) await reserveGpus(tx, allocationOf(d, delta));
    if (running && delta < 0) await releaseGpus(tx, allocationOf(d, -delta));
    await tx.deployment.update({ where: { id: d.id }, data: { replicas: input.replicas, ...(running ? { reservedGpus: d.reservedGpus + delta } : {}) } });
    return { before: { replicas: d.replicas }, after: { replicas: input.replicas }, event: `Scaled from ${d.replicas} to ${input.replicas} replica(s)` };
  });
}

export function stopDeployment(orgId: string, actor: Actor, input: { deploymentId: string }) {
  return operate(orgId, actor, input.deploymentId, "stop", async (tx, d) => {
    if (d.desiredState === "STOPPED") throw conflict("The deployment is already stopped or stopping");
    // GPUs are released by the workers once the replicas are really gone.
    await tx.deployment.update({ where: { id: d.id }, data: { desiredState: "STOPPED" } });
    return { before: { desiredState: d.desiredState }, after: { desiredState: "STOPPED" }, event: "Stop requested" };
  });
}

async function reserveForRestart(tx: Tx, d: Awaited<ReturnType<typeof lockDeployment>>) {
  const need = d.replicas * d.gpusPerReplica - d.reservedGpus;
  if (need > 0) await reserveGpus(tx, allocationOf(d, need));
  return d.reservedGpus + Math.max(0, need);
}

export function startDeployment(orgId: string, actor: Actor, input: { deploymentId: string }) {
  return operate(orgId, actor, input.deploymentId, "start", async (tx, d) => {
    if (d.desiredState === "RUNNING" && d.phase !== "STOPPED") throw conflict("The deployment is already running");
    const reservedGpus = await reserveForRestart(tx, d);
    await tx.deployment.update({ where: { id: d.id }, data: { desiredState: "RUNNING", phase: d.phase === "STOPPED" || d.phase === "FAILED" ? "PENDING" : d.phase, reservedGpus, reconcileFailures: 0 } });
    return { before: { desiredState: d.desiredState }, after: { desiredState: "RUNNING" }, event: `Start requested; ${reservedGpus} GPU(s) reserved` };
  });
}

export function retryDeployment(orgId: string, actor: Actor, input: { deploymentId: string }) {
  return operate(orgId, actor, input.deploymentId, "retry", async (tx, d) => {
    if (d.phase !== "FAILED") throw conflict("Only a failed deployment can be retried");
    const reservedGpus = await reserveForRestart(tx, d);
    await tx.deploymentReplica.updateMany({ where: { deploymentId: d.id, state: "failed" }, data: { state: "terminating" } });
    await tx.deployment.update({ where: { id: d.id }, data: { desiredState: "RUNNING", phase: "PENDING", reservedGpus, reconcileFailures: 0 } });
    return { before: { phase: d.phase }, after: { phase: "PENDING" }, event: "Retry requested" };
  });
}

/** A new revision with another model version: the workers replace replicas one revision at a time. */
export function updateDeploymentModel(orgId: string, actor: Actor, input: { deploymentId: string; catalogModelId: string }) {
  return operate(orgId, actor, input.deploymentId, "update", async (tx, d) => {
    if (input.catalogModelId === d.catalogModelId) throw conflict("The deployment already runs this model version", "catalogModelId");
    const next = await tx.catalogModel.findFirst({ where: { id: input.catalogModelId, status: "ACTIVE" }, include: { fitsGpuTypes: { select: { id: true } } } });
    if (!next) throw notFound("Catalog model");
    if (next.family !== d.catalogModel.family) throw badRequest(`Updates stay within the ${d.catalogModel.family} family; deploy ${next.name} separately`, "catalogModelId");
    if (!next.fitsGpuTypes.some((g) => g.id === d.gpuTypeId)) throw badRequest(`${next.name} ${next.version} does not fit ${d.gpuType.code}`, "catalogModelId");
    if (gpusPerReplicaFor(next, d.gpuType) > d.gpusPerReplica) throw badRequest(`${next.name} ${next.version} needs more GPUs per replica than this deployment has`, "catalogModelId");
    await tx.deployment.update({ where: { id: d.id }, data: { catalogModelId: next.id, previousModelId: d.catalogModelId, revision: d.revision + 1 } });
    return { before: { model: `${d.catalogModel.name} ${d.catalogModel.version}`, revision: d.revision }, after: { model: `${next.name} ${next.version}`, revision: d.revision + 1 }, event: `Rolling update to ${next.name} ${next.version} (revision ${d.revision + 1})` };
  });
}

export function rollbackDeployment(orgId: string, actor: Actor, input: { deploymentId: string }) {
  return operate(orgId, actor, input.deploymentId, "rollback", async (tx, d) => {
    if (!d.previousModelId) throw preconditionFailed("There is no previous revision to roll back to");
    const previous = await tx.catalogModel.findUniqueOrThrow({ where: { id: d.previousModelId } });
    await tx.deployment.update({ where: { id: d.id }, data: { catalogModelId: previous.id, previousModelId: d.catalogModelId, revision: d.revision + 1 } });
    return { before: { model: `${d.catalogModel.name} ${d.catalogModel.version}`, revision: d.revision }, after: { model: `${previous.name} ${previous.version}`, revision: d.revision + 1 }, event: `Rolled back to ${previous.name} ${previous.version} (revision ${d.revision + 1})` };
  });
}

export function deleteDeployment(orgId: string, actor: Actor, input: { deploymentId: string }) {
  return operate(orgId, actor, input.deploymentId, "delete", async (tx, d) => {
    await tx.deployment.update({ where: { id: d.id }, data: { desiredState: "DELETED", phase: d.phase === "PENDING" || d.phase === "STOPPED" || d.phase === "FAILED" ? d.phase : "DELETING" } });
    return { before: { desiredState: d.desiredState }, after: { desiredState: "DELETED" }, event: "Deletion requested" };
  });
}
