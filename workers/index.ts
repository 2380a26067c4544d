/**
 * The workers process: pg-boss queues on the same PostgreSQL as the console. Each job lives in
 * its own file under workers/jobs; this file starts the queues and stops them cleanly.
 */
import PgBoss from "pg-boss";
import { logger } from "../server/logger";
import { registerOrphanCollection } from "./jobs/collect-orphans";
import { registerGpuMetering } from "./jobs/meter-gpu-hours";
import { registerDeploymentReconciler } from "./jobs/reconcile-deployments";
import { registerAuditChainVerification } from "./jobs/verify-audit-chains";

async function main() {
  const connectionString = process.env.DATABASE_URL;
  if (!connectionString) throw new Error("DATABASE_URL is not set: start the workers through `npm start`");
  const boss = new PgBoss({ connectionString, application_name: "enclave-workers", max: 4 });
  let stopping = false;
  // On Ctrl-C the terminal signals PostgreSQL too: its closing connections are expected then.
  boss.on("error", (error) => {
    if (!stopping) logger.error("pg-boss error", { error });
  });
  await boss.start();
  await registerAuditChainVerification(boss);
  const stopReconciler = await registerDeploymentReconciler(boss, connectionString);
  await registerGpuMetering(boss);
  await registerOrphanCollection(boss);
  logger.info("workers started", { queues: ["audit.verify-chains", "deployment.reconcile", "usage.meter-gpu-hours", "deployment.collect-orphans"] });

  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await stopReconciler();
    await boss.stop({ graceful: true, timeout: 10_000 });
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
