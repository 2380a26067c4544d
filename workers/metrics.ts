/**
 * The workers' Prometheus metrics, served at `GET /metrics` on `WORKERS_METRICS_PORT` (prom-client):
 * reconcile passes (durations by outcome), pg-boss queue depth per queue and state, replicas by
 * region and state, deployments by phase — the last three queried when Prometheus scrapes (two
 * small grouped queries) — and Node's default process metrics. Same access rule as the gateway's:
 * a bearer `METRICS_TOKEN` when set, otherwise loopback clients only. See docs/observability.md.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type PgBoss from "pg-boss";
import { Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import { db } from "../server/db";
import { digest, metricsAccess, serveRegistry } from "../server/gateway/metrics";
import { logger } from "../server/logger";

/** One registry per workers process (the reconcile job records into it wherever it runs). */
export const workersRegistry = new Registry();

const reconcilePasses = new Histogram({
  name: "enclave_workers_reconcile_duration_seconds",
  help: "Reconcile passes of one deployment, by outcome (converged, requeue, busy, gone, error); _count is the number of passes.",
  labelNames: ["outcome"] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  registers: [workersRegistry],
});

/** Records one reconcile pass (workers/jobs/reconcile-deployments.ts). */
export function observeReconcilePass(outcome: "converged" | "requeue" | "busy" | "gone" | "error", seconds: number) {
  reconcilePasses.observe({ outcome }, seconds);
}

let boss: PgBoss | null = null;
let bossSchema = "pgboss";

const queryFailures = new Gauge({
  name: "enclave_workers_metrics_query_failed",
  help: "1 when the last scrape could not read this from PostgreSQL (its series are then absent), by source.",
  labelNames: ["source"] as const,
  registers: [workersRegistry],
});

const QUEUE_STATES = ["created", "retry", "active"] as const;

new Gauge({
  name: "enclave_workers_queue_jobs",
  help: "pg-boss jobs per queue and state (created: waiting, retry: waiting to be retried, active: running), read at scrape time.",
  labelNames: ["queue", "state"] as const,
  registers: [workersRegistry],
  async collect() {
    this.reset();
    if (!boss) return;
    try {
      // Every queue, even empty ones, but pg-boss's own (__pgboss__*); its job table is partitioned by queue.
      const schema = `"${bossSchema.replace(/"/g, '""')}"`;
      const result = await boss.getDb().executeSql(
        `SELECT q.name, s.state, COALESCE(c.n, 0)::int AS n
         FROM ${schema}.queue q
         CROSS JOIN (VALUES ${QUEUE_STATES.map((s) => `('${s}')`).join(", ")}) AS s(state)
         LEFT JOIN (SELECT name, state::text AS state, count(*) AS n FROM ${schema}.job WHERE state < 'completed' GROUP BY 1, 2) c
           ON c.name = q.name AND c.state = s.state
         WHERE q.name NOT LIKE '\\_\\_pgboss\\_\\_%'`,
        [],
      );
      for (const row of result.rows as { name: string; state: string; n: number }[]) this.set({ queue: row.name, state: row.state }, row.n);
      queryFailures.set({ source: "queues" }, 0);
    } catch (error) {
      queryFailures.set({ source: "queues" }, 1);
      logger.warn("workers metrics: queue depth unavailable", { error: String(error) });
    }
  },
});

new Gauge({
  name: "enclave_workers_replicas",
  help: "Deployment replicas by region code and state (pending, starting, ready, failed, terminating; gone ones are not counted), read at scrape time.",
  labelNames: ["region", "state"] as const,
  registers: [workersRegistry],
  async collect() {
    this.reset();
    try {
      const rows = await db.$queryRaw<{ region: string; state: string; n: number }[]>`
        SELECT r.code AS region, dr.state, count(*)::int AS n
        FROM "DeploymentReplica" dr
        JOIN "Deployment" d ON d.id = dr."deploymentId"
        JOIN "Region" r ON r.id = d."regionId"
        WHERE dr.state <> 'gone'
        GROUP BY 1, 2`;
      for (const row of rows) this.set({ region: row.region, state: row.state }, row.n);
      queryFailures.set({ source: "replicas" }, 0);
    } catch (error) {
      queryFailures.set({ source: "replicas" }, 1);
      logger.warn("workers metrics: replica counts unavailable", { error: String(error) });
    }
  },
});

new Gauge({
  name: "enclave_workers_deployments",
  help: "Deployments by observed phase (DELETED ones are not counted), read at scrape time.",
  labelNames: ["phase"] as const,
  registers: [workersRegistry],
  async collect() {
    this.reset();
    try {
      const rows = await db.$queryRaw<{ phase: string; n: number }[]>`
        SELECT phase::text AS phase, count(*)::int AS n FROM "Deployment" WHERE phase <> 'DELETED' GROUP BY 1`;
      for (const row of rows) this.set({ phase: row.phase }, row.n);
      queryFailures.set({ source: "deployments" }, 0);
    } catch (error) {
      queryFailures.set({ source: "deployments" }, 1);
      logger.warn("workers metrics: deployment counts unavailable", { error: String(error) });
    }
  },
});

export interface WorkersMetricsServer {
  url: string;
  close(): Promise<void>;
}

let defaultsCollected = false;

/**
 * Serves `GET /metrics` for this workers process. `boss` gives the queue depths (its schema,
 * "pgboss" unless given); `port` 0 picks a free one.
 */
export async function startWorkersMetrics(options: { port: number; host?: string; boss: PgBoss | null; bossSchema?: string; token?: string | null }): Promise<WorkersMetricsServer> {
  boss = options.boss;
  bossSchema = options.bossSchema ?? "pgboss";
  if (!defaultsCollected) {
    collectDefaultMetrics({ register: workersRegistry });
    defaultsCollected = true;
  }
  const token = options.token ? digest(options.token) : null;
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path !== "/metrics") {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      res.end("Not found: the workers serve /metrics only.\n");
      return;
    }
    const refusal = metricsAccess(req, token);
    if (refusal) {
      const body = JSON.stringify({ error: { message: refusal.message, type: "permission_error", param: null, code: refusal.code } });
      res.writeHead(refusal.status, { "content-type": "application/json", ...(refusal.status === 401 ? { "www-authenticate": 'Bearer realm="metrics"' } : {}) });
      res.end(body);
      return;
    }
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { "content-type": "text/plain; charset=utf-8", allow: "GET, HEAD" });
      res.end("The metrics are read with GET.\n");
      return;
    }
    serveRegistry(workersRegistry, req, res);
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host === "[::]" ? "[::1]" : host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * WORKERS_METRICS_PORT (unset: no metrics server; 0: any free port), WORKERS_METRICS_HOST (default
 * 127.0.0.1) and METRICS_TOKEN (shared with the gateway). Throws a readable error for bad values.
 */
export function metricsSettings(env: NodeJS.ProcessEnv): { port: number; host: string; token: string | null } | null {
  const raw = env.WORKERS_METRICS_PORT?.trim();
  if (!raw) return null;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`WORKERS_METRICS_PORT must be a port number (0-65535), not "${raw.slice(0, 20)}"`);
  const token = env.METRICS_TOKEN?.trim() || null;
  if (token !== null && token.length < 16) throw new Error("METRICS_TOKEN must be at least 16 characters long");
  return { port, host: env.WORKERS_METRICS_HOST?.trim() || "127.0.0.1", token };
}
