/**
 * Autoscaling policies (docs/autoscaling.md): the tenant edits a deployment's policy here; the
 * workers' autoscaler (workers/jobs/autoscale.ts) reads it with the gateways' load signal and
 * decides. Bounds are the deployment's own minReplicas/maxReplicas, so manual scaling keeps them.
 */
import { db } from "../db";
import { badRequest, conflict, notFound, preconditionFailed } from "../errors";
import { recordAudit, type Actor } from "./audit";
import { AUTOSCALE_CHANNEL, AUTOSCALING_DEFAULTS, type AutoscalingPolicyInput } from "../../lib/autoscaling";

/** A gateway's load row older than this is ignored (the process is gone or stuck). */
export const LOAD_STALE_SECONDS = 5;

export async function getAutoscaling(orgId: string, input: { deploymentId: string; hours: number }) {
  const d = await db.deployment.findFirst({
    where: { id: input.deploymentId, orgId },
    select: {
      id: true,
      replicas: true,
      minReplicas: true,
      maxReplicas: true,
      gpusPerReplica: true,
      gpuTypeId: true,
      region: { select: { capacities: { select: { gpuTypeId: true, priceCentsPerGpuHour: true } } } },
      autoscaling: { select: { enabled: true, targetInFlight: true, scaleUpWindowSeconds: true, scaleDownWindowSeconds: true, idleTimeoutSeconds: true, lastActiveAt: true, lastRefusal: true, updatedAt: true } },
    },
  });
  if (!d) throw notFound("Deployment");
  const since = new Date(Date.now() - input.hours * 3600_000);
  // At most ~240 points, whatever the period: buckets of the period / 240, at least 1 s.
  const bucketSeconds = Math.max(1, Math.floor((input.hours * 3600) / 240));
  const [series, saved, signal] = await Promise.all([
    db.$queryRaw<{ at: Date; replicas: number; inFlight: number; queued: number }[]>`
      SELECT date_bin(make_interval(secs => ${bucketSeconds}), "at", TIMESTAMP '2000-01-01') AS at,
             avg(replicas)::float8 AS replicas, avg("inFlight")::float8 AS "inFlight", max(queued)::int AS queued
      FROM "AutoscaleSample" WHERE "deploymentId" = ${d.id} AND "at" >= ${since}
      GROUP BY 1 ORDER BY 1`,
    // GPU-hours at max minus GPU-hours run, each sample counting until the next (gaps capped at a minute).
    db.$queryRaw<{ actual: number | null; atMax: number | null; seconds: number | null }[]>`
      SELECT sum(replicas * "gpusPerReplica" * dt)::float8 / 3600 AS actual, sum("maxReplicas" * "gpusPerReplica" * dt)::float8 / 3600 AS "atMax", sum(dt)::float8 AS seconds
      FROM (SELECT replicas, "maxReplicas", "gpusPerReplica",
                   LEAST(60, extract(epoch from COALESCE(lead("at") OVER (ORDER BY "at"), now()) - "at")) AS dt
            FROM "AutoscaleSample" WHERE "deploymentId" = ${d.id} AND "at" >= ${since}) s`,
    currentSignal(d.id),
  ]);
  const price = d.region.capacities.find((c) => c.gpuTypeId === d.gpuTypeId)?.priceCentsPerGpuHour ?? 0;
  const actual = saved[0]?.actual ?? 0;
  const atMax = saved[0]?.atMax ?? 0;
  const policy = d.autoscaling;
  return {
    deploymentId: d.id,
    replicas: d.replicas,
    minReplicas: d.minReplicas,
    maxReplicas: d.maxReplicas,
    gpusPerReplica: d.gpusPerReplica,
    policy: policy ? { enabled: policy.enabled, targetInFlight: policy.targetInFlight, scaleUpWindowSeconds: policy.scaleUpWindowSeconds, scaleDownWindowSeconds: policy.scaleDownWindowSeconds, idleTimeoutSeconds: policy.idleTimeoutSeconds, lastActiveAt: policy.lastActiveAt, lastRefusal: policy.lastRefusal, updatedAt: policy.updatedAt } : null,
    defaults: AUTOSCALING_DEFAULTS,
    signal,
    series: series.map((p) => ({ at: p.at, replicas: Math.round(p.replicas * 100) / 100, inFlight: Math.round(p.inFlight * 100) / 100, queued: p.queued })),
    savings: {
      hours: input.hours,
      coveredSeconds: Math.round(saved[0]?.seconds ?? 0),
      gpuHoursRun: round3(actual),
      gpuHoursAtMax: round3(atMax),
      gpuHoursSaved: round3(Math.max(0, atMax - actual)),
      eurSaved: Math.round(Math.max(0, atMax - actual) * price) / 100,
    },
  };
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;

/** The load summed over every live gateway process (rows older than LOAD_STALE_SECONDS ignored). */
export async function currentSignal(deploymentId: string) {
  const [row] = await db.$queryRaw<{ inFlight: number; queued: number; requests: number; gateways: number }[]>`
    SELECT COALESCE(sum("inFlight"), 0)::float8 AS "inFlight", COALESCE(sum(queued), 0)::int AS queued,
           COALESCE(sum(requests), 0)::int AS requests, count(*)::int AS gateways
    FROM "GatewayLoad" WHERE "deploymentId" = ${deploymentId} AND "updatedAt" > now() - make_interval(secs => ${LOAD_STALE_SECONDS})`;
  return row ?? { inFlight: 0, queued: 0, requests: 0, gateways: 0 };
}

/**
 * Sets a deployment's policy and bounds in one transaction with its audit event. The maximum must
 * fit the organisation's quota for the deployment's region and GPU type (what a scale-up could reserve).
 */
export async function setAutoscaling(orgId: string, actor: Actor, input: AutoscalingPolicyInput) {
  if (input.minReplicas > input.maxReplicas) throw badRequest("Minimum replicas cannot exceed the maximum", "minReplicas");
  return db.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM "Deployment" WHERE id = ${input.deploymentId} AND "orgId" = ${orgId} FOR UPDATE`;
    if (rows.length === 0) throw notFound("Deployment");
    const d = await tx.deployment.findUniqueOrThrow({
      where: { id: input.deploymentId },
      include: { autoscaling: true, gpuType: { select: { code: true } }, region: { select: { code: true } } },
    });
    if (d.phase === "DELETED" || d.desiredState === "DELETED") throw conflict("This deployment is being deleted");
    const quota = await tx.quota.findUnique({ where: { orgId_regionId_gpuTypeId: { orgId, regionId: d.regionId, gpuTypeId: d.gpuTypeId } }, select: { limitGpus: true } });
    const limit = quota?.limitGpus ?? 0;
    const need = input.maxReplicas * d.gpusPerReplica;
    if (need > limit) {
      const fits = Math.floor(limit / d.gpusPerReplica);
      throw preconditionFailed(
        `Maximum replicas ${input.maxReplicas} would need ${need} ${d.gpuType.code} GPU(s) in ${d.region.code}; the organisation's quota there is ${limit}` + (fits > 0 ? `, enough for at most ${fits} replica(s)` : ""),
        "maxReplicas",
      );
    }
    const policy = { enabled: input.enabled, targetInFlight: input.targetInFlight, scaleUpWindowSeconds: input.scaleUpWindowSeconds, scaleDownWindowSeconds: input.scaleDownWindowSeconds, idleTimeoutSeconds: input.idleTimeoutSeconds };
    const before = d.autoscaling
      ? { minReplicas: d.minReplicas, maxReplicas: d.maxReplicas, enabled: d.autoscaling.enabled, targetInFlight: d.autoscaling.targetInFlight, scaleUpWindowSeconds: d.autoscaling.scaleUpWindowSeconds, scaleDownWindowSeconds: d.autoscaling.scaleDownWindowSeconds, idleTimeoutSeconds: d.autoscaling.idleTimeoutSeconds }
      : { minReplicas: d.minReplicas, maxReplicas: d.maxReplicas, enabled: false };
    await tx.deployment.update({ where: { id: d.id }, data: { minReplicas: input.minReplicas, maxReplicas: input.maxReplicas } });
    await tx.autoscalingPolicy.upsert({ where: { deploymentId: d.id }, create: { deploymentId: d.id, ...policy }, update: { ...policy, lastRefusal: null, lastRefusedAt: null } });
    const summary = input.enabled
      ? `Autoscaling ${input.minReplicas}–${input.maxReplicas} replica(s), target ${input.targetInFlight} in flight per replica, windows ↑${input.scaleUpWindowSeconds} s ↓${input.scaleDownWindowSeconds} s${input.minReplicas === 0 ? `, to zero after ${input.idleTimeoutSeconds} s idle` : ""}`
      : `Autoscaling off; manual scaling within ${input.minReplicas}–${input.maxReplicas} replica(s)`;
    await tx.deploymentEvent.create({ data: { deploymentId: d.id, type: "Normal", reason: "AutoscalingPolicy", message: summary } });
    await recordAudit(tx, actor, { orgId, action: "deployment.autoscaling_updated", targetType: "Deployment", targetId: d.id, before: { name: d.name, ...before }, after: { name: d.name, minReplicas: input.minReplicas, maxReplicas: input.maxReplicas, ...policy } });
    // The autoscaler looks at the deployment at once (the bounds may already ask for a change).
    await tx.$executeRaw`SELECT pg_notify(${AUTOSCALE_CHANNEL}, ${d.id})`;
    return { id: d.id };
  });
}
