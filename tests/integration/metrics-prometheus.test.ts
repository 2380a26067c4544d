/**
 * Operators' metrics, read the way operators read them: a real Prometheus server (Debian's
 * `prometheus`, started here on loopback with a temporary configuration and storage) scrapes a
 * real gateway process and a workers metrics server every second, and the series are read back
 * through Prometheus's HTTP query API. Also: the access rule of both /metrics endpoints.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import PgBoss from "pg-boss";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { db } from "@/server/db";
import { digest, metricsAccess } from "@/server/gateway/metrics";
import { startWorkersMetrics, type WorkersMetricsServer } from "@/workers/metrics";
import { reconcileAndRecord } from "@/workers/jobs/reconcile-deployments";
import { createApiKey } from "../deployment-fixtures";
import { postChat, registerDeployment, spawnGateway, startFastUpstream, waitFor, waitForModel, type FakeUpstream, type GatewayProcess } from "../gateway-fixtures";
import { createTenant, unique, type Tenant } from "../helpers";

const PROMETHEUS = "/usr/bin/prometheus";
const TOKEN = `metrics-${unique("token")}-0123456789abcdef`;
const SENT = 7;

let tmp: string;
let tenant: Tenant;
let upstream: FakeUpstream;
let deployment: { id: string; name: string };
let key: string;
let strictKey: string;
let dead: { id: string; name: string };
let gateway: GatewayProcess;
let boss: PgBoss;
let workers: WorkersMetricsServer;
let prometheus: ChildProcess | null = null;
let prometheusLogs = "";
let prometheusUrl: string;
const queue = unique("metrics.test").replace(/[^A-Za-z0-9._-]/g, "-");

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const target = (url: string) => new URL(url).host;

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "enclave-prometheus-"));
  tenant = await createTenant("metrics");
  upstream = await startFastUpstream();
  deployment = await registerDeployment(tenant, [upstream.url]);
  // A requests-per-minute limit, so that the gateway leases allowance from PostgreSQL.
  key = (await createApiKey(tenant.org.id, tenant.ownerId, { rateLimitRpm: 10_000 })).key;
  strictKey = (await createApiKey(tenant.org.id, tenant.ownerId, { rateLimitRpm: 1 })).key;
  // A replica nobody listens on: its calls fail with ECONNREFUSED.
  dead = await registerDeployment(tenant, ["http://127.0.0.1:9"]);
  gateway = await spawnGateway({ spoolDir: path.join(tmp, "spool"), env: { METRICS_TOKEN: TOKEN } });

  boss = new PgBoss({ connectionString: process.env.DATABASE_URL!, application_name: "enclave-metrics-test", max: 2 });
  boss.on("error", () => {});
  await boss.start();
  await boss.createQueue(queue);
  for (let i = 0; i < 3; i++) await boss.send(queue, { n: i });
  workers = await startWorkersMetrics({ port: 0, boss, token: TOKEN });

  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  writeFileSync(path.join(tmp, "token"), TOKEN, { mode: 0o600 });
  const scrape = (job: string, url: string) =>
    [
      `  - job_name: ${job}`,
      "    scrape_interval: 1s",
      "    scrape_timeout: 900ms",
      "    authorization:",
      `      credentials_file: ${path.join(tmp, "token")}`,
      "    static_configs:",
      `      - targets: ["${target(url)}"]`,
    ].join("\n");
  writeFileSync(
    path.join(tmp, "prometheus.yml"),
    ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs:", scrape("enclave-gateway", gateway.url), scrape("enclave-workers", workers.url), ""].join("\n"),
  );
  prometheus = spawn(
    PROMETHEUS,
    [
      `--config.file=${path.join(tmp, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(tmp, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  prometheus.stdout!.on("data", (d) => (prometheusLogs += String(d)));
  prometheus.stderr!.on("data", (d) => (prometheusLogs += String(d)));
  await waitFor(async () => {
    if (prometheus!.exitCode !== null) throw new Error(`prometheus exited with ${prometheus!.exitCode}:\n${prometheusLogs}`);
    return fetch(`${prometheusUrl}/-/ready`).then((r) => r.ok, () => false);
  }, 30_000, 100);
}, 90_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus!.once("exit", resolve));
    prometheus.kill("SIGTERM");
    await exited;
  }
  await workers?.close();
  await boss?.deleteQueue(queue).catch(() => {});
  await boss?.stop({ graceful: false, wait: true }).catch(() => {});
  await gateway?.stop();
  await upstream?.close();
  rmSync(tmp, { recursive: true, force: true });
});

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An instant query through Prometheus's HTTP API. */
async function query(promql: string): Promise<Sample[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data?: { resultType: string; result: Sample[] }; error?: string };
  if (body.status !== "success") throw new Error(`query ${promql} failed: ${body.error}`);
  return body.data!.result;
}

/** Polls until the query returns one series whose value satisfies `ok`; returns that value. */
async function eventually(promql: string, ok: (value: number) => boolean, timeoutMs = 30_000): Promise<number> {
  let last: Sample[] = [];
  try {
    await waitFor(async () => {
      last = await query(promql);
      return last.length === 1 && ok(Number(last[0].value[1]));
    }, timeoutMs, 250);
  } catch {
    throw new Error(`${promql}: ${JSON.stringify(last)} after ${timeoutMs} ms\n${prometheusLogs}`);
  }
  return Number(last[0].value[1]);
}

describe("Prometheus scraping the gateway and the workers", () => {
  it("reads back the gateway's request counter, its histograms, tokens, limit leases and spool depth", async () => {
    await waitForModel(gateway.url, key, deployment.name);
    for (let i = 0; i < SENT; i++) expect((await postChat(gateway.url, key, deployment.name)).status).toBe(200);
    // A refusal before any deployment is found: counted under deployment="".
    expect((await postChat(gateway.url, key, unique("no-such-model"))).status).toBe(404);

    const dep = `deployment="${deployment.id}"`;
    expect(await eventually(`enclave_gateway_requests_total{${dep},status="200"}`, (v) => v === SENT)).toBe(SENT);
    expect(await eventually(`enclave_gateway_requests_total{deployment="",status="404"}`, (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await eventually(`enclave_gateway_request_duration_seconds_count{${dep}}`, (v) => v === SENT)).toBe(SENT);
    expect(await eventually(`enclave_gateway_time_to_first_token_seconds_count{${dep}}`, (v) => v === SENT)).toBe(SENT);
    // Every request was answered within the 5-minute upper bucket, so the +Inf and 300 s buckets agree.
    expect(await eventually(`enclave_gateway_request_duration_seconds_bucket{${dep},le=~"300|300.0"}`, (v) => v === SENT)).toBe(SENT);
    // The fixture upstream reports 7 prompt and 3 completion tokens per call.
    expect(await eventually(`enclave_gateway_tokens_total{${dep},direction="input"}`, (v) => v === 7 * SENT)).toBe(7 * SENT);
    expect(await eventually(`enclave_gateway_tokens_total{${dep},direction="output"}`, (v) => v === 3 * SENT)).toBe(3 * SENT);
    expect(await eventually(`sum(enclave_gateway_limit_leases_total{kind="requests"})`, (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    expect(await eventually(`enclave_gateway_limit_allowances{kind="requests"}`, (v) => v >= 1)).toBeGreaterThanOrEqual(1);
    // Read at scrape time from the spool; drained to PostgreSQL within a batch interval.
    expect(await eventually(`enclave_gateway_spool_pending_records{job="enclave-gateway"}`, (v) => v === 0)).toBe(0);
    expect(await eventually(`up{job="enclave-gateway"}`, (v) => v === 1)).toBe(1);
    // Node's process metrics come along.
    expect(await eventually(`process_resident_memory_bytes{job="enclave-gateway"}`, (v) => v > 0)).toBeGreaterThan(0);
  });

  it("reads back upstream errors by kind and limit refusals by kind", async () => {
    await waitForModel(gateway.url, key, dead.name);
    let failed = 0;
    for (let i = 0; i < 3; i++) if ((await postChat(gateway.url, key, dead.name)).status === 502) failed++;
    expect(failed).toBe(3);
    // One request a minute: of three, one or two are refused (two if no minute boundary falls between them).
    let refused = 0;
    for (let i = 0; i < 3; i++) if ((await postChat(gateway.url, strictKey, deployment.name)).status === 429) refused++;
    expect(refused).toBeGreaterThanOrEqual(1);

    expect(await eventually(`enclave_gateway_upstream_errors_total{kind="ECONNREFUSED"}`, (v) => v === failed)).toBe(failed);
    expect(await eventually(`enclave_gateway_requests_total{deployment="${dead.id}",status="502"}`, (v) => v === failed)).toBe(failed);
    expect(await eventually(`enclave_gateway_limit_refusals_total{kind="requests_per_minute"}`, (v) => v === refused)).toBe(refused);
    expect(await eventually(`enclave_gateway_requests_total{deployment="${deployment.id}",status="429"}`, (v) => v === refused)).toBe(refused);
  });

  it("reads back the workers' reconcile passes, queue depth and replicas by state", async () => {
    const deleted = await db.deployment.create({
      data: {
        orgId: tenant.org.id,
        name: unique("deleted"),
        catalogModelId: tenant.model.id,
        regionId: tenant.region.id,
        gpuTypeId: tenant.gpuType.id,
        gpusPerReplica: 1,
        dataClassification: "INTERNAL",
        phase: "DELETED",
        desiredState: "DELETED",
        createdById: tenant.ownerId,
      },
    });
    // Real reconcile passes, through the job's own entry point: a deleted deployment converges at once.
    expect((await reconcileAndRecord(deleted.id)).status).toBe("converged");
    expect((await reconcileAndRecord(deleted.id)).status).toBe("converged");

    expect(await eventually(`enclave_workers_reconcile_duration_seconds_count{outcome="converged"}`, (v) => v === 2)).toBe(2);
    expect(await eventually(`enclave_workers_queue_jobs{queue="${queue}",state="created"}`, (v) => v === 3)).toBe(3);
    expect(await eventually(`enclave_workers_queue_jobs{queue="${queue}",state="active"}`, (v) => v === 0)).toBe(0);

    const ready = await db.deploymentReplica.count({ where: { state: "ready", deployment: { regionId: tenant.region.id } } });
    expect(ready).toBeGreaterThanOrEqual(1);
    expect(await eventually(`enclave_workers_replicas{region="${tenant.region.code}",state="ready"}`, (v) => v === ready)).toBe(ready);
    const running = await db.deployment.count({ where: { phase: "RUNNING" } });
    expect(await eventually(`enclave_workers_deployments{phase="RUNNING"}`, (v) => v === running)).toBe(running);
    expect(await eventually(`process_cpu_seconds_total{job="enclave-workers"}`, (v) => v > 0)).toBeGreaterThan(0);
    expect(await eventually(`up{job="enclave-workers"}`, (v) => v === 1)).toBe(1);
  });
});

describe("access to /metrics", () => {
  it("is refused without the METRICS_TOKEN, and with a wrong one, on the gateway and the workers", async () => {
    for (const url of [`${gateway.url}/metrics`, workers.url]) {
      const none = await fetch(url);
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toContain("Bearer");
      expect(((await none.json()) as { error: { code: string } }).error.code).toBe("invalid_metrics_token");
      expect((await fetch(url, { headers: { authorization: `Bearer ${TOKEN}x` } })).status).toBe(401);
      const ok = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("content-type")).toContain("text/plain");
      expect(await ok.text()).toContain("# TYPE");
    }
  });

  it("without a token, answers loopback clients only", () => {
    const from = (remoteAddress: string, authorization?: string) => ({ headers: { authorization }, socket: { remoteAddress } }) as unknown as IncomingMessage;
    expect(metricsAccess(from("127.0.0.1"), null)).toBeNull();
    expect(metricsAccess(from("::1"), null)).toBeNull();
    expect(metricsAccess(from("::ffff:127.0.0.1"), null)).toBeNull();
    expect(metricsAccess(from("192.0.2.10"), null)).toMatchObject({ status: 403, code: "metrics_loopback_only" });
    expect(metricsAccess(from("::ffff:192.0.2.10"), null)).toMatchObject({ status: 403 });
    expect(metricsAccess(from("2001:db8::1"), null)).toMatchObject({ status: 403 });
    // With a token, the address does not matter: the token does.
    expect(metricsAccess(from("192.0.2.10", `Bearer ${TOKEN}`), digest(TOKEN))).toBeNull();
    expect(metricsAccess(from("127.0.0.1"), digest(TOKEN))).toMatchObject({ status: 401 });
  });

  it("keeps label values bounded: no key, key id or request id appears in the exposition", async () => {
    const text = await (await fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    expect(text).toContain(`deployment="${deployment.id}"`);
    expect(text).not.toContain(key.slice(0, 17));
    expect(text).not.toMatch(/req_[0-9a-z]+_/);
    const apiKeyIds = await db.apiKey.findMany({ where: { orgId: tenant.org.id }, select: { id: true } });
    for (const { id } of apiKeyIds) expect(text).not.toContain(id);
  });
});
