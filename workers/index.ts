/**
 * The workers process: pg-boss queues on the same PostgreSQL as the console. Each job lives in
 * its own file under workers/jobs; this file starts the queues and stops them cleanly.
 */
import PgBoss from "pg-boss";
import { mailEnv } from "../server/env";
import { logger } from "../server/logger";
import { registerOrphanCollection } from "./jobs/collect-orphans";
import { registerMailDelivery } from "./jobs/deliver-mail";
import { startWebhookDelivery } from "./jobs/deliver-webhooks";
import { registerBudgetEvaluation } from "./jobs/evaluate-budgets";
import { registerGpuMetering } from "./jobs/meter-gpu-hours";
import { registerPartitionMaintenance } from "./jobs/maintain-partitions";
import { registerDeploymentReconciler } from "./jobs/reconcile-deployments";
import { startAutoscaler } from "./jobs/autoscale";
import { registerUsageRollup } from "./jobs/roll-up-usage";
import { registerCapacitySampling } from "./jobs/sample-capacity";
import { registerAuditChainVerification } from "./jobs/verify-audit-chains";
import { registerCheckpointSigning } from "./jobs/sign-audit-checkpoints";
import { registerUsageSealing } from "./jobs/seal-usage-hours";
import { metricsSettings, startWorkersMetrics, type WorkersMetricsServer } from "./metrics";

async function main() {
  const connectionString = process.env.DATABASE_URL;
  if (!connectionString) throw new Error("DATABASE_URL is not set: start the workers through `npm start`");
  const boss = new PgBoss({ connectionString, application_name: "enclave-workers", max: 4 });
  let stopping = false;
  // On Ctrl-C the terminal signals PostgreSQL too: its closing connections are expected then.
  boss.on("error", (error) => {
    if (!stopping) logger.error("pg-boss error", { error });
  });
  mailEnv(); // fail fast on an invalid SMTP_URL or MAIL_FROM
  await boss.start();
  // Prometheus metrics (docs/observability.md): only when WORKERS_METRICS_PORT is set.
  const metricsEnv = metricsSettings(process.env);
  let metrics: WorkersMetricsServer | null = null;
  if (metricsEnv) {
    metrics = await startWorkersMetrics({ ...metricsEnv, boss });
    logger.info("workers metrics listening", { url: metrics.url });
  }
  await registerAuditChainVerification(boss);
  const stopReconciler = await registerDeploymentReconciler(boss, connectionString);
  const stopAutoscaler = await startAutoscaler({ connectionString });
  await registerGpuMetering(boss);
  await registerOrphanCollection(boss);
  const stopCapacitySampling = await registerCapacitySampling(boss, connectionString);
  await registerPartitionMaintenance(boss, connectionString);
  const stopUsageRollup = await registerUsageRollup(connectionString);
  const stopBudgetEvaluation = registerBudgetEvaluation();
  const stopWebhookDelivery = await startWebhookDelivery({ connectionString });
  const stopCheckpointSigning = registerCheckpointSigning();
  const stopUsageSealing = registerUsageSealing();
  const stopMailDelivery = registerMailDelivery();
  logger.info("workers started", { queues: ["audit.verify-chains", "deployment.reconcile", "usage.meter-gpu-hours", "deployment.collect-orphans", "usage.sample-capacity", "maintenance.partitions"], loops: ["deployment.autoscale", "usage.roll-up", "budgets.evaluate", "webhooks.deliver", "audit.sign-checkpoints", "audit.seal-usage-hours", "mail.deliver"] });

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await stopReconciler();
    await stopAutoscaler();
    await stopUsageRollup();
    await stopBudgetEvaluation();
    await stopWebhookDelivery();
    await stopCheckpointSigning();
    await stopUsageSealing();
    await stopMailDelivery();
    await boss.stop({ graceful: true, timeout: 10_000 });
    await stopCapacitySampling();
    await metrics?.close();
    logger.info("workers stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop());
  process.on("SIGTERM", () => void stop());
}

main().catch((error) => {
  logger.error("workers failed to start", { error });
  process.exit(1);
});
