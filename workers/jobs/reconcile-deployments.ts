/**
 * The deployment controller's queue: a `deployment.reconcile` job per deployment (pg-boss
 * "short" policy with the deployment id as singleton key: at most one queued per deployment;
 * the deployment's lease, not the queue, keeps two workers from acting at once, so a job left
 * "active" by a killed worker blocks nothing), fed three ways: NOTIFY from the console's transactions (the change is
 * committed before anyone hears of it), requeues from unfinished passes, and a sweep every few
 * seconds that catches anything missed (a crashed worker, a lost notification, drift).
 */
import type PgBoss from "pg-boss";
import pg from "pg";
import { db } from "../../server/db";
import { RECONCILE_CHANNEL } from "../../server/services/channels";
import { logger } from "../../server/logger";
import { reconcileDeployment, type ReconcileResult } from "../reconcile/deployment";
import { observeReconcilePass } from "../metrics";

export const RECONCILE_QUEUE = "deployment.reconcile";
export const SWEEP_INTERVAL_MS = Number(process.env.ENCLAVE_RECONCILE_SWEEP_MS ?? 15_000);

export function enqueueReconcile(boss: PgBoss, deploymentId: string, afterSeconds = 0) {
  return boss.send(RECONCILE_QUEUE, { deploymentId }, { singletonKey: deploymentId, startAfter: afterSeconds, retryLimit: 5, retryBackoff: true, retryDelay: 2 });
}

/** Deployments whose observed state may differ from the desired one (everything not deleted). */
export async function deploymentsToSweep(): Promise<string[]> {
  const rows = await db.deployment.findMany({ where: { phase: { not: "DELETED" } }, select: { id: true } });
  return rows.map((r) => r.id);
}

/** One reconcile pass, timed into the workers' metrics (workers/metrics.ts) by outcome. */
export async function reconcileAndRecord(deploymentId: string) {
  const started = performance.now();
  let outcome: ReconcileResult["status"] | "error" = "error";
  try {
    const result = await reconcileDeployment(deploymentId);
    outcome = result.status;
    return result;
  } finally {
    observeReconcilePass(outcome, (performance.now() - started) / 1000);
  }
}

export async function registerDeploymentReconciler(boss: PgBoss, connectionString: string) {
  await boss.createQueue(RECONCILE_QUEUE, { name: RECONCILE_QUEUE, policy: "short", expireInSeconds: 300 });
  await boss.work<{ deploymentId: string }>(RECONCILE_QUEUE, { batchSize: 1, pollingIntervalSeconds: 0.5 }, async ([job]) => {
    const { deploymentId } = job.data;
    const result = await reconcileAndRecord(deploymentId);
    if (result.status === "requeue") await enqueueReconcile(boss, deploymentId, result.afterSeconds);
    else if (result.status === "busy") await enqueueReconcile(boss, deploymentId, 2);
  });

  // Committed changes wake the controller at once; the connection is re-opened if the database
  // restarts (meanwhile the sweep below keeps everything converging).
  let listener: pg.Client | null = null;
  let closed = false;
  const listen = async () => {
    const client = new pg.Client({ connectionString, application_name: "enclave-workers-listen" });
    client.on("notification", (msg) => {
      if (msg.payload) void enqueueReconcile(boss, msg.payload).catch((error) => logger.error("enqueue failed", { error }));
    });
    let retrying = false;
    const retry = () => {
      if (closed || retrying) return;
      retrying = true;
      logger.warn("reconcile listener disconnected; reconnecting");
      setTimeout(() => void listen().catch(() => {}), 1000);
    };
    client.on("error", retry);
    client.on("end", retry);
    try {
      await client.connect();
      await client.query(`LISTEN ${RECONCILE_CHANNEL}`);
      listener = client;
    } catch (error) {
      retry();
      throw error;
    }
  };
  await listen();

  const sweep = async () => {
    try {
      for (const id of await deploymentsToSweep()) await enqueueReconcile(boss, id);
    } catch (error) {
      logger.error("reconcile sweep failed", { error });
    }
  };
  await sweep();
  const timer = setInterval(sweep, SWEEP_INTERVAL_MS);
  return async () => {
    closed = true;
    clearInterval(timer);
    await listener?.end().catch(() => {});
  };
}
