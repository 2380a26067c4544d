/**
 * The autoscaler (docs/autoscaling.md): about every second, for each deployment with an enabled
 * policy, reads the gateways' load signal (GatewayLoad, summed over live processes), recommends a
 * replica count, stabilises it over the policy's windows, and changes `replicas` with the GPUs
 * reserved or released through the allocation rules. It acts only while holding the deployment's
 * reconcile lease, so it and the reconcile loop (and other workers) are one decision-maker at a
 * time; the reconcile loop then starts or stops the replicas. A NOTIFY on AUTOSCALE_CHANNEL (a
 * gateway holding requests at zero, a policy change) makes it look at once.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { db } from "../../server/db";
import { logger } from "../../server/logger";
import { AllocationRefused, releaseGpus, reserveGpus } from "../../server/services/allocation";
import { recordAudit, systemActor } from "../../server/services/audit";
import { currentSignal } from "../../server/services/autoscaling";
import { RECONCILE_CHANNEL } from "../../server/services/channels";
import { AUTOSCALE_CHANNEL, recommendReplicas, stabilise } from "../../lib/autoscaling";
import { acquireLease, releaseLease } from "../reconcile/deployment";
import { startLoop } from "../loop";

export const AUTOSCALE_INTERVAL_MS = Number(process.env.ENCLAVE_AUTOSCALE_INTERVAL_MS ?? 1000);
/** A refusal already written as an event is written again only after this. */
const REFUSAL_REPEAT_MS = 60_000;
const SAMPLE_RETENTION_DAYS = 7;
const OWNER = `autoscaler-${process.pid}-${randomUUID().slice(0, 8)}`;

export type AutoscaleResult =
  | { status: "busy" }
  | { status: "skipped"; why: string }
  | { status: "steady"; replicas: number; recommended: number }
  | { status: "scaled"; from: number; to: number; message: string }
  | { status: "refused"; replicas: number; wanted: number; reason: string };

const fmt = (n: number) => (Math.round(n * 10) / 10).toString();

/** One decision for one deployment, under its lease (another owner holding it: "busy"). */
export async function autoscaleDeployment(deploymentId: string, options: { owner?: string } = {}): Promise<AutoscaleResult> {
  const owner = options.owner ?? OWNER;
  if (!(await acquireLease(deploymentId, owner))) return { status: "busy" };
  try {
    return await decide(deploymentId);
  } finally {
    await releaseLease(deploymentId, owner);
  }
}

async function decide(deploymentId: string): Promise<AutoscaleResult> {
  const d = await db.deployment.findUnique({
    where: { id: deploymentId },
    include: { autoscaling: true, org: { select: { status: true } }, gpuType: { select: { code: true } }, region: { select: { code: true } } },
  });
  const policy = d?.autoscaling;
  if (!d || !policy || !policy.enabled) return { status: "skipped", why: "no enabled policy" };
  if (d.desiredState !== "RUNNING" || d.org.status !== "ACTIVE" || d.phase === "FAILED" || d.phase === "DELETED" || d.phase === "DELETING") return { status: "skipped", why: `deployment is ${d.phase.toLowerCase()}` };

  const now = new Date();
  const signal = await currentSignal(d.id);
  const active = signal.inFlight > 0 || signal.queued > 0 || signal.requests > 0;
  const lastActiveAt = active ? now : policy.lastActiveAt;
  const idleSeconds = (now.getTime() - lastActiveAt.getTime()) / 1000;
  const idle = idleSeconds >= policy.idleTimeoutSeconds;
  const current = d.replicas;
  const recommended = recommendReplicas({ current, inFlight: signal.inFlight, queued: signal.queued, target: policy.targetInFlight, min: d.minReplicas, max: d.maxReplicas, idle });

  await db.autoscaleSample.create({ data: { deploymentId: d.id, at: now, replicas: current, maxReplicas: d.maxReplicas, gpusPerReplica: d.gpusPerReplica, inFlight: signal.inFlight, queued: signal.queued, recommended } });
  const windowed = async (seconds: number) => {
    if (seconds <= 0) return [recommended];
    const rows = await db.autoscaleSample.findMany({ where: { deploymentId: d.id, at: { gt: new Date(now.getTime() - seconds * 1000) } }, select: { recommended: true } });
    return [recommended, ...rows.map((r) => r.recommended)];
  };
  let desired = stabilise(current, await windowed(policy.scaleUpWindowSeconds), await windowed(policy.scaleDownWindowSeconds));
  // Held requests wait for a replica: waking from zero never waits for the scale-up window.
  if (current === 0 && signal.queued > 0) desired = Math.max(desired, recommended);
  desired = Math.max(d.minReplicas, Math.min(d.maxReplicas, desired));

  if (desired === current) {
    if (active) await db.autoscalingPolicy.update({ where: { deploymentId: d.id }, data: { lastActiveAt } });
    return { status: "steady", replicas: current, recommended };
  }

  const perReplica = (signal.inFlight + signal.queued) / Math.max(1, current);
  const why =
    desired === 0
      ? `idle for ${Math.round(idleSeconds)} s (idle timeout ${policy.idleTimeoutSeconds} s)`
      : current === 0
        ? `${signal.queued} request(s) held at zero replicas, ${fmt(signal.inFlight)} in flight, target ${policy.targetInFlight}`
        : `${fmt(perReplica)} in flight per replica, target ${policy.targetInFlight}`;

  return db.$transaction(async (tx) => {
    // The console may have scaled meanwhile: decide again on the next pass rather than on stale numbers.
    const [locked] = await tx.$queryRaw<{ replicas: number; reservedGpus: number }[]>`SELECT replicas, "reservedGpus" FROM "Deployment" WHERE id = ${d.id} FOR UPDATE`;
    if (!locked || locked.replicas !== current) return { status: "skipped", why: "replicas changed during the decision" } as AutoscaleResult;
    const allocation = { orgId: d.orgId, regionId: d.regionId, gpuTypeId: d.gpuTypeId };
    let to = desired;
    let refusal: AllocationRefused | null = null;
    if (desired > current) {
      // The most the quota and the region can hold, from the wanted count down to one more replica.
      to = current;
      for (let n = desired; n > current; n--) {
        const need = n * d.gpusPerReplica - locked.reservedGpus;
        try {
          if (need > 0) await reserveGpus(tx, { ...allocation, gpus: need });
          to = n;
          break;
        } catch (error) {
          if (!(error instanceof AllocationRefused)) throw error;
          refusal ??= error;
          if (error.reason !== "QUOTA_EXCEEDED" && error.reason !== "REGION_FULL") break;
        }
      }
      if (to === current) {
        const reason = refusal?.message ?? "the allocation was refused";
        const repeat = policy.lastRefusal === reason && policy.lastRefusedAt && now.getTime() - policy.lastRefusedAt.getTime() < REFUSAL_REPEAT_MS;
        if (!repeat) {
          await tx.deploymentEvent.create({ data: { deploymentId: d.id, type: "Warning", reason: "ScaleUpRefused", message: `Scale ${current} → ${desired} refused (${why}): ${reason}; still serving with ${current} replica(s)` } });
        }
        await tx.autoscalingPolicy.update({ where: { deploymentId: d.id }, data: { lastActiveAt, lastRefusal: reason, ...(repeat ? {} : { lastRefusedAt: now }) } });
        return { status: "refused", replicas: current, wanted: desired, reason } as AutoscaleResult;
      }
    } else {
      const surplus = locked.reservedGpus - desired * d.gpusPerReplica;
      if (surplus > 0) await releaseGpus(tx, { ...allocation, gpus: surplus });
    }
    const reservedGpus = to > current ? Math.max(locked.reservedGpus, to * d.gpusPerReplica) : Math.min(locked.reservedGpus, to * d.gpusPerReplica);
    const message = `Scaled ${current} → ${to}: ${why}${to !== desired && refusal ? ` (wanted ${desired}: ${refusal.message})` : ""}`;
    await tx.deployment.update({ where: { id: d.id }, data: { replicas: to, reservedGpus } });
    await tx.autoscalingPolicy.update({ where: { deploymentId: d.id }, data: { lastActiveAt, lastRefusal: null, lastRefusedAt: null } });
    await tx.deploymentEvent.create({ data: { deploymentId: d.id, type: "Normal", reason: to > current ? "ScaledUp" : "ScaledDown", message } });
    await recordAudit(tx, systemActor("autoscaler"), {
      orgId: d.orgId,
      action: "deployment.autoscaled",
      targetType: "Deployment",
      targetId: d.id,
      before: { name: d.name, replicas: current, reservedGpus: locked.reservedGpus },
      after: { name: d.name, replicas: to, reservedGpus, inFlight: signal.inFlight, queued: signal.queued, target: policy.targetInFlight },
    });
    await tx.$executeRaw`SELECT pg_notify(${RECONCILE_CHANNEL}, ${d.id})`;
    logger.info("deployment autoscaled", { deploymentId: d.id, from: current, to });
    return { status: "scaled", from: current, to, message } as AutoscaleResult;
  });
}

/** Deployments the autoscaler looks at on each pass. */
async function autoscaled(): Promise<string[]> {
  const rows = await db.autoscalingPolicy.findMany({ where: { enabled: true, deployment: { desiredState: "RUNNING", phase: { notIn: ["DELETED", "DELETING", "FAILED"] } } }, select: { deploymentId: true } });
  return rows.map((r) => r.deploymentId);
}

/**
 * Starts the autoscaler loop and its listener; returns the stop function. `onDecision` sees every
 * result (tests and the benchmark).
 */
export async function startAutoscaler(options: { connectionString: string; intervalMs?: number; onDecision?: (deploymentId: string, result: AutoscaleResult) => void }) {
  // One decision per deployment at a time in this process (the lease is re-entrant for its owner).
  const running = new Set<string>();
  const again = new Set<string>();
  const run = async (id: string): Promise<void> => {
    if (running.has(id)) {
      again.add(id);
      return;
    }
    running.add(id);
    try {
      const result = await autoscaleDeployment(id);
      options.onDecision?.(id, result);
    } catch (error) {
      logger.error("autoscale decision failed", { deploymentId: id, error });
    } finally {
      running.delete(id);
      if (again.delete(id)) void run(id);
    }
  };
  let lastPrune = 0;
  const stopLoop = startLoop(
    "autoscale",
    async () => {
      await Promise.all((await autoscaled()).map(run));
      if (Date.now() - lastPrune > 3600_000) {
        lastPrune = Date.now();
        await db.$executeRaw`DELETE FROM "AutoscaleSample" WHERE "at" < now() - make_interval(days => ${SAMPLE_RETENTION_DAYS})`;
        await db.$executeRaw`DELETE FROM "GatewayLoad" WHERE "updatedAt" < now() - interval '1 hour'`;
      }
    },
    options.intervalMs ?? AUTOSCALE_INTERVAL_MS,
  );

  let closed = false;
  let listener: pg.Client | null = null;
  const listen = async () => {
    const client = new pg.Client({ connectionString: options.connectionString, application_name: "enclave-workers-autoscale" });
    client.on("notification", (msg) => {
      if (msg.payload) void run(msg.payload);
    });
    const retry = () => {
      if (closed) return;
      listener = null;
      setTimeout(() => void listen().catch(() => {}), 1000);
    };
    client.once("error", retry);
    client.once("end", retry);
    await client.connect();
    await client.query(`LISTEN ${AUTOSCALE_CHANNEL}`);
    listener = client;
  };
  await listen();
  return async () => {
    closed = true;
    await stopLoop();
    await (listener as pg.Client | null)?.end().catch(() => {});
  };
}
