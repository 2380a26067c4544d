/**
 * reconcileDeployment: the controller loop for one deployment. Reads desired state from the
 * database, observes the cluster through the region's driver, acts, and writes observed facts
 * back. Idempotent and crash-safe: replica rows are written before cluster objects exist (their
 * id names the object), so a worker killed at any point finds everything again on the next pass.
 */
import { randomUUID } from "node:crypto";
import { db } from "../../server/db";
import type { Prisma } from "../../server/generated/prisma/client";
import { logger } from "../../server/logger";
import { releaseGpus } from "../../server/services/allocation";
import { recordAudit, systemActor } from "../../server/services/audit";
import { GATEWAY_CHANNELS } from "../../server/services/channels";
import { ArtifactMismatchError, type ArtifactCheck } from "../drivers/artifact";
import { driverForRegion } from "../drivers/registry";
import { DriverError, type ClusterDriver, type ObservedReplica, type ReplicaSpec } from "../drivers/types";

export const LEASE_SECONDS = 60;
const RESTART_AFTER_READY_MS = 60_000;
const WORKER_ID = `${process.pid}-${randomUUID().slice(0, 8)}`;

export type ReconcileResult =
  | { status: "converged"; phase: string }
  | { status: "requeue"; afterSeconds: number; phase: string }
  | { status: "busy" }
  | { status: "gone" };

export interface Condition {
  type: "Available" | "Progressing" | "ReplicaFailure" | "Scheduled";
  status: "True" | "False";
  reason: string;
  message: string;
  at: string;
}

/**
 * A condition's `at` is its last transition time (as Kubernetes' lastTransitionTime): it moves only
 * when the condition's status changes, not at every reconcile pass that restates it.
 */
export function withTransitionTimes(previous: readonly Condition[] | null | undefined, next: readonly Condition[]): Condition[] {
  const before = new Map((Array.isArray(previous) ? previous : []).map((c) => [c.type, c]));
  return next.map((c) => {
    const prior = before.get(c.type);
    return prior && prior.status === c.status && typeof prior.at === "string" ? { ...c, at: prior.at } : c;
  });
}

const LIVE_STATES = ["pending", "starting", "ready", "failed", "terminating"];

/** Takes the deployment's lease, so two workers never reconcile it at the same time; a crashed holder's lease expires. */
export async function acquireLease(deploymentId: string, owner = WORKER_ID): Promise<boolean> {
  const rows = await db.$queryRaw<{ id: string }[]>`
    UPDATE "Deployment" SET "leaseOwner" = ${owner}, "leaseExpiresAt" = now() + make_interval(secs => ${LEASE_SECONDS})
    WHERE id = ${deploymentId} AND ("leaseExpiresAt" IS NULL OR "leaseExpiresAt" < now() OR "leaseOwner" = ${owner})
    RETURNING id`;
  return rows.length === 1;
}

export async function releaseLease(deploymentId: string, owner = WORKER_ID) {
  await db.$executeRaw`UPDATE "Deployment" SET "leaseOwner" = NULL, "leaseExpiresAt" = NULL WHERE id = ${deploymentId} AND "leaseOwner" = ${owner}`;
}

function loadDeployment(id: string) {
  return db.deployment.findUnique({
    where: { id },
    include: {
      org: { select: { slug: true, status: true } },
      catalogModel: true,
      region: { include: { capacities: { include: { gpuType: true } } } },
      gpuType: true,
      replicaSet: { where: { state: { in: LIVE_STATES } }, orderBy: [{ revision: "asc" }, { ordinal: "asc" }] },
    },
  });
}
type LoadedDeployment = NonNullable<Awaited<ReturnType<typeof loadDeployment>>>;
type ReplicaRow = LoadedDeployment["replicaSet"][number];

function specFor(d: LoadedDeployment, replica: { id: string; revision: number }): ReplicaSpec {
  return {
    replicaId: replica.id,
    deploymentId: d.id,
    servedModelName: d.name,
    tenant: d.org.slug,
    revision: replica.revision,
    model: {
      slug: d.catalogModel.slug,
      artifactUri: d.catalogModel.artifactUri,
      artifactSha256: d.catalogModel.artifactSha256 ?? "",
      runtime: d.catalogModel.runtime,
      contextLength: d.catalogModel.contextLength,
    },
    gpu: { type: d.gpuType.code, count: d.gpusPerReplica },
  };
}

/**
 * How many replicas should run now: none when stopped, deleted, suspended or failed (until a
 * retry), and never more than the reserved GPUs pay for (GPUs released while suspended are
 * reserved again only by an explicit start).
 */
function desiredReplicas(d: LoadedDeployment): number {
  if (d.desiredState !== "RUNNING" || d.org.status !== "ACTIVE") return 0;
  if (d.phase === "FAILED") return 0;
  return Math.min(d.replicas, Math.floor(d.reservedGpus / d.gpusPerReplica));
}

function rowStateFrom(observed: ObservedReplica | undefined, row: ReplicaRow): string {
  if (!observed) return row.state === "terminating" ? "gone" : row.state === "pending" ? "pending" : "failed";
  if (observed.phase === "ready") return "ready";
  if (observed.phase === "failed") return "failed";
  if (observed.phase === "stopped") return "gone";
  return observed.phase === "pending" ? "pending" : "starting";
}

export async function reconcileDeployment(deploymentId: string, options: { owner?: string; driver?: ClusterDriver } = {}): Promise<ReconcileResult> {
  const owner = options.owner ?? WORKER_ID;
  if (!(await acquireLease(deploymentId, owner))) return { status: "busy" };
  try {
    const d = await loadDeployment(deploymentId);
    if (!d) return { status: "gone" };
    if (d.phase === "DELETED") return { status: "converged", phase: d.phase };
    const driver = options.driver ?? driverForRegion(d.region);
    return await converge(d, driver);
  } finally {
    await releaseLease(deploymentId, owner);
  }
}

async function converge(d: LoadedDeployment, driver: ClusterDriver): Promise<ReconcileResult> {
  const events: { type: "Normal" | "Warning"; reason: string; message: string }[] = [];
  let driverError: DriverError | null = null;
  // Cluster errors become conditions and events; anything else is a bug and propagates.
  const guard = async <T>(what: string, action: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: DriverError }> => {
    try {
      return { ok: true, value: await action() };
    } catch (error) {
      if (!(error instanceof DriverError)) throw error;
      driverError ??= error;
      events.push({ type: "Warning", reason: error instanceof ArtifactMismatchError ? "ArtifactMismatch" : what, message: error.message });
      return { ok: false, error };
    }
  };

  const observation = await guard("ObserveFailed", () => driver.observe({ deploymentId: d.id }));
  if (!observation.ok) return finish(d, d.replicaSet, events, driverError);
  const observedList = observation.value;
  const observed = new Map(observedList.map((o) => [o.replicaId, o]));
  let rows = [...d.replicaSet];

  // Cluster objects of this deployment that no live row owns (a deletion interrupted by a crash).
  const owned = new Set(rows.map((r) => r.id));
  for (const o of observedList) {
    if (!owned.has(o.replicaId)) {
      await guard("DeleteFailed", () => driver.delete(o.replicaId));
      events.push({ type: "Normal", reason: "OrphanRemoved", message: `Removed cluster object ${o.clusterRef} that no replica owns` });
    }
  }

  const want = desiredReplicas(d);
  const current = rows.filter((r) => r.revision === d.revision && r.state !== "terminating");
  const readyCurrent = current.filter((r) => observed.get(r.id)?.phase === "ready").length;

  // Replicas to remove: surplus ordinals, every replica when none is wanted, and the previous
  // revision's once the new revision has enough ready replicas (rolling replacement).
  const toRemove = rows.filter(
    (r) =>
      r.state === "terminating" ||
      (r.revision === d.revision && r.ordinal >= want) ||
      (r.revision !== d.revision && (want === 0 || readyCurrent >= Math.min(want, d.replicas))),
  );
  for (const r of toRemove) {
    if (r.state !== "terminating") await db.deploymentReplica.update({ where: { id: r.id }, data: { state: "terminating" } });
    const deleted = await guard("DeleteFailed", () => driver.delete(r.id));
    if (deleted.ok || !observed.has(r.id)) {
      await db.deploymentReplica.update({ where: { id: r.id }, data: { state: "gone", stoppedAt: new Date(), endpoint: null } });
      observed.delete(r.id);
      events.push({ type: "Normal", reason: "ReplicaRemoved", message: `Replica ${r.ordinal} (revision ${r.revision}) removed` });
    }
  }
  const removed = new Set(toRemove.map((r) => r.id));
  rows = rows.filter((r) => !removed.has(r.id) || observed.has(r.id));

  // Replicas to create: the row first (its id names the cluster object), then the cluster object.
  const haveOrdinals = new Set(rows.filter((r) => r.revision === d.revision && !removed.has(r.id)).map((r) => r.ordinal));
  for (let ordinal = 0; ordinal < want; ordinal++) {
    if (haveOrdinals.has(ordinal)) continue;
    const row = await db.deploymentReplica.create({ data: { deploymentId: d.id, ordinal, revision: d.revision, state: "pending" } });
    rows.push(row);
    events.push({ type: "Normal", reason: "ReplicaCreated", message: `Replica ${ordinal} (revision ${d.revision}) scheduled on ${d.region.code}` });
  }

  // A replica that served and then died (a crash, a machine restart) is started again, as a
  // ReplicaSet would; one that dies within a minute of becoming ready stays failed (a crash loop).
  for (const r of rows) {
    const o = observed.get(r.id);
    if (removed.has(r.id) || r.revision !== d.revision || r.ordinal >= want || o?.phase !== "failed") continue;
    if (!r.readyAt || Date.now() - r.readyAt.getTime() < RESTART_AFTER_READY_MS) continue;
    if (!(await guard("DeleteFailed", () => driver.delete(r.id))).ok) continue;
    observed.delete(r.id);
    Object.assign(r, { state: "pending", readyAt: null, endpoint: null });
    await db.deploymentReplica.update({ where: { id: r.id }, data: { state: "pending", readyAt: null, endpoint: null } });
    events.push({ type: "Warning", reason: "ReplicaRestarted", message: `Replica ${r.ordinal} stopped unexpectedly (${o.message?.split("\n")[0] ?? "no reason given"}); starting it again` });
  }

  // Apply every wanted replica the cluster does not have yet (a no-op for those it has).
  // A refused artifact (sha256 not the catalog's) is recorded on the replica as evidence.
  const refusedArtifacts = new Map<string, ArtifactCheck>();
  for (const r of rows) {
    if (removed.has(r.id) || r.revision !== d.revision || r.ordinal >= want || r.state === "failed") continue;
    if (observed.has(r.id)) continue;
    const applied = await guard("ApplyFailed", () => driver.apply(specFor(d, r)));
    if (applied.ok) observed.set(r.id, applied.value);
    else if (applied.error instanceof ArtifactMismatchError) {
      refusedArtifacts.set(r.id, applied.error.check);
      r.state = "failed";
      r.message = applied.error.message;
    } else if (driverError && !(driverError as DriverError).retryable) {
      r.state = "failed";
      r.message = (driverError as DriverError).message;
    }
  }

  // Write back what the cluster reports.
  const live: ReplicaRow[] = [];
  for (const r of rows) {
    if (removed.has(r.id)) continue;
    const o = observed.get(r.id);
    const state = r.state === "failed" && !o ? "failed" : rowStateFrom(o, r);
    const data: Prisma.DeploymentReplicaUpdateInput = {
      state,
      endpoint: o?.endpoint ?? null,
      clusterRef: o?.clusterRef ?? r.clusterRef,
      message: o?.message ?? (state === "failed" ? (r.message ?? "The replica disappeared from the cluster") : null),
    };
    if (o?.startedAt && !r.startedAt) data.startedAt = o.startedAt;
    const artifact = o?.artifact ?? refusedArtifacts.get(r.id);
    if (artifact && (artifact.status !== r.artifactStatus || artifact.sha256 !== r.artifactSha256 || artifact.expectedSha256 !== r.artifactExpectedSha256)) {
      Object.assign(data, {
        artifactStatus: artifact.status,
        artifactSha256: artifact.sha256,
        artifactExpectedSha256: artifact.expectedSha256,
        artifactCheckedAt: artifact.checkedAt,
        artifactCheckedBy: artifact.checkedBy,
        artifactNote: artifact.note,
      } satisfies Prisma.DeploymentReplicaUpdateInput);
    }
    if (state === "ready" && !r.readyAt) {
      data.readyAt = new Date();
      events.push({ type: "Normal", reason: "ReplicaReady", message: `Replica ${r.ordinal} (revision ${r.revision}) is serving at ${o?.endpoint}` });
    }
    if (state === "failed" && r.state !== "failed") events.push({ type: "Warning", reason: "ReplicaFailed", message: `Replica ${r.ordinal}: ${data.message}` });
    if (state === "gone") data.stoppedAt = new Date();
    const updated = await db.deploymentReplica.update({ where: { id: r.id }, data });
    if (state !== "gone") live.push(updated);
  }
  return finish(d, live, events, driverError);
}

async function finish(
  d: LoadedDeployment,
  live: ReplicaRow[],
  events: { type: "Normal" | "Warning"; reason: string; message: string }[],
  driverError: DriverError | null,
): Promise<ReconcileResult> {
  const want = desiredReplicas(d);
  const current = live.filter((r) => r.revision === d.revision);
  const ready = current.filter((r) => r.state === "ready").length;
  const failed = current.filter((r) => r.state === "failed");
  const now = new Date().toISOString();
  let phase: LoadedDeployment["phase"];
  if (d.desiredState === "DELETED") phase = live.length === 0 && !driverError ? "DELETED" : "DELETING";
  else if (d.phase === "FAILED") phase = "FAILED";
  else if (want === 0) phase = live.length === 0 && !driverError ? "STOPPED" : "STOPPING";
  else if (failed.length > 0 && ready === 0 && failed.length >= want) phase = "FAILED";
  else if (ready >= want && live.length === current.length) phase = "RUNNING";
  else if (ready >= want) phase = "PROVISIONING"; // new revision ready, the previous one is being removed
  else if (ready > 0) phase = failed.length > 0 ? "DEGRADED" : "PROVISIONING";
  else phase = current.length > 0 ? "PROVISIONING" : "PENDING";

  const failureMessage = failed[0]?.message ?? driverError?.message ?? "";
  const conditions: Condition[] = [
    {
      type: "Available",
      status: ready > 0 ? "True" : "False",
      reason: ready >= want && want > 0 ? "AllReplicasReady" : ready > 0 ? "SomeReplicasReady" : "NoReplicaReady",
      message: `${ready} of ${want} replica(s) ready`,
      at: now,
    },
    {
      type: "Progressing",
      status: phase === "RUNNING" || phase === "STOPPED" || phase === "DELETED" || phase === "FAILED" ? "False" : "True",
      reason: phase,
      message: driverError && driverError.retryable ? `Retrying after a cluster error: ${driverError.message}` : `Deployment is ${phase.toLowerCase()}`,
      at: now,
    },
  ];
  if (failed.length > 0 || driverError) {
    const reason = driverError instanceof ArtifactMismatchError ? "ArtifactMismatch" : driverError ? "DriverError" : "ReplicaFailed";
    conditions.push({ type: "ReplicaFailure", status: "True", reason, message: failureMessage, at: now });
  } else if (phase === "FAILED") {
    // Failed replicas are cleaned up on the next pass; the reason stays until a retry.
    const previous = (d.conditions as unknown as Condition[]).find((c) => c.type === "ReplicaFailure");
    if (previous) conditions.push(previous);
  }

  const stamped = withTransitionTimes(d.conditions as unknown as Condition[], conditions);
  const endpoint = current.find((r) => r.state === "ready")?.endpoint ?? null;
  const releaseNow = (phase === "STOPPED" || phase === "DELETED" || phase === "FAILED") && d.reservedGpus > 0;
  const retryable = Boolean(driverError?.retryable);
  await db.$transaction(async (tx) => {
    if (releaseNow) {
      await releaseGpus(tx, { orgId: d.orgId, regionId: d.regionId, gpuTypeId: d.gpuTypeId, gpus: d.reservedGpus });
      events.push({ type: "Normal", reason: "GpusReleased", message: `${d.reservedGpus} ${d.gpuType.code} GPU(s) released` });
    }
    await tx.deployment.update({
      where: { id: d.id },
      data: {
        phase,
        conditions: stamped as unknown as Prisma.InputJsonValue,
        endpoint,
        reconcileFailures: retryable ? { increment: 1 } : 0,
        ...(releaseNow ? { reservedGpus: 0 } : {}),
        // The name is freed for a new deployment; the row stays for usage history and audit.
        ...(phase === "DELETED" ? { deletedAt: new Date(), name: `${d.name}~deleted-${d.id}` } : {}),
      },
    });
    await tx.$executeRaw`SELECT pg_notify(${GATEWAY_CHANNELS.routes}, ${d.id})`;
    if (phase !== d.phase) {
      events.push({ type: phase === "FAILED" || phase === "DEGRADED" ? "Warning" : "Normal", reason: `Phase${phase.charAt(0)}${phase.slice(1).toLowerCase()}`, message: `${d.phase.toLowerCase()} → ${phase.toLowerCase()}${phase === "FAILED" && failureMessage ? `: ${failureMessage}` : ""}` });
      await recordAudit(tx, systemActor("reconciler"), {
        orgId: d.orgId,
        action: "deployment.phase_changed",
        targetType: "Deployment",
        targetId: d.id,
        before: { phase: d.phase },
        after: { phase, ...(phase === "FAILED" ? { reason: failureMessage } : {}) },
      });
    }
    if (events.length) await tx.deploymentEvent.createMany({ data: events.map((e) => ({ deploymentId: d.id, ...e })) });
  });
  if (phase !== d.phase) logger.info("deployment phase changed", { deploymentId: d.id, from: d.phase, to: phase });

  const settled = phase === "RUNNING" || phase === "STOPPED" || phase === "DELETED" || phase === "FAILED";
  if (settled && !driverError) return { status: "converged", phase };
  // Exponential backoff on cluster errors (1 s, 2 s, 4 s … capped at 60 s); a quick look otherwise.
  const afterSeconds = retryable ? Math.min(60, 2 ** Math.min(6, d.reconcileFailures)) : 1;
  return { status: "requeue", afterSeconds, phase };
}
