/**
 * The product as the end-to-end tests see it: a fresh embedded PostgreSQL (or E2E_DATABASE_URL),
 * migrations, demo data, a production build, `next start` and the workers (with their own local
 * cluster directory). Started by Playwright's webServer.
 */
import { rmSync } from "node:fs";
import path from "node:path";
import { migrate, seed } from "./lib/database";
import { startEmbeddedPostgres, superviseShutdownSignals, type EmbeddedDatabase } from "./lib/embedded-postgres";
import { GATEWAY_NODE_FLAGS } from "../server/gateway/node-flags";
import { stopAllLocalReplicas } from "../workers/drivers/local";
import { BIN, ROOT, buildConsoleIfNeeded, startService, stopService } from "./lib/processes";

const log = (line: string) => console.log(`[e2e-server] ${line}`);

async function main() {
  const port = Number(process.env.E2E_PORT ?? 3100);
  let database: EmbeddedDatabase | null = null;
  const localClusterDir = path.join(ROOT, ".data", "e2e-local-cluster");
  await stopAllLocalReplicas(localClusterDir);
  let databaseUrl = process.env.E2E_DATABASE_URL;
  if (!databaseUrl) {
    const dataDir = path.join(ROOT, ".data", "e2e-pg");
    rmSync(dataDir, { recursive: true, force: true });
    database = await startEmbeddedPostgres({ dataDir, database: "enclave_e2e", persistent: false, log });
    databaseUrl = database.url;
  }
  const env = {
    ...process.env,
    NODE_ENV: "production" as const,
    DATABASE_URL: databaseUrl,
    NEXTAUTH_SECRET: "e2e-secret-e2e-secret-e2e-secret-e2e-secret",
    NEXTAUTH_URL: `http://localhost:${port}`,
    ENCLAVE_LOCAL_CLUSTER_DIR: localClusterDir,
    ENCLAVE_RECONCILE_SWEEP_MS: "3000",
    ENCLAVE_DEMO: "1",
    // The journeys call deployments through the gateway, as programs do (replicas require its token).
    GATEWAY_PORT: process.env.E2E_GATEWAY_PORT ?? "3180",
    GATEWAY_HOST: "127.0.0.1",
    GATEWAY_PUBLIC_URL: `http://127.0.0.1:${process.env.E2E_GATEWAY_PORT ?? "3180"}/v1`,
    GATEWAY_SPOOL_DIR: path.join(ROOT, ".data", "e2e-gateway-spool"),
    // Prometheus metrics of the workers (the gateway serves its own at /metrics), as `npm start` has them.
    WORKERS_METRICS_PORT: process.env.E2E_WORKERS_METRICS_PORT ?? "3181",
  };
  await migrate(databaseUrl);
  // The journeys sign in with the demo logins: this is a demo installation, whatever the database.
  await seed(databaseUrl, { demo: true });
  await buildConsoleIfNeeded(env, log);
  const server = startService("console", BIN("tsx"), ["scripts/console-server.ts", "--port", String(port)], env);
  const workers = startService("workers", BIN("tsx"), ["workers/index.ts"], env);
  const gateway = startService("gateway", BIN("tsx"), [...GATEWAY_NODE_FLAGS, "server/gateway/main.ts"], env);
  const stop = async () => {
    await Promise.all([stopService(server), stopService(workers), stopService(gateway)]);
    await stopAllLocalReplicas(localClusterDir);
    await database?.stop();
    process.exit(0);
  };
  superviseShutdownSignals();
  process.on("SIGTERM", () => void stop());
  process.on("SIGINT", () => void stop());
  workers.on("exit", (code) => log(`workers exited with ${code}`));
  server.on("exit", (code) => {
    log(`console exited with ${code}`);
    void database?.stop().finally(() => process.exit(1));
  });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
