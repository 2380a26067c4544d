/**
 * `npm run bench:autoscale`: autoscaling's two latencies on this machine, written to the
 * "Autoscaling" section of docs/benchmarks.md (between its markers). A benchmark, not a test.
 *
 * On a throw-away embedded PostgreSQL, with the tiny model served by the local driver's model
 * servers, a real gateway (createGateway) and the workers' autoscaler loop at their default
 * intervals (load signal 1 s, decisions 1 s), and reconcile passes every 250 ms:
 * 1. Cold start: the deployment at zero replicas, one streamed request → its first token
 *    (BENCH_COLD_STARTS times, default 3; idle timeout 1 s brings it back to zero in between).
 * 2. Load change → scale decision: at one replica (target 1 in flight), BENCH_LOAD (4) concurrent
 *    requests start; the time until the "ScaledUp" event is written (BENCH_SCALE_RUNS, default 3).
 * BENCH_OUTPUT: another file ("-": none).
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { migrate } from "./lib/database";
import { startEmbeddedPostgres } from "./lib/embedded-postgres";
import { writeBenchmarkSection } from "./lib/benchmarks-doc";

const ROOT = path.resolve(import.meta.dirname, "..");
const SECTION_START = "<!-- autoscale-bench:start (written by npm run bench:autoscale) -->";
const SECTION_END = "<!-- autoscale-bench:end -->";
const num = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);
const COLD_STARTS = num("BENCH_COLD_STARTS", 3);
const SCALE_RUNS = num("BENCH_SCALE_RUNS", 3);
const LOAD = num("BENCH_LOAD", 4);
const output = process.env.BENCH_OUTPUT === "-" ? null : (process.env.BENCH_OUTPUT ?? path.join(ROOT, "docs", "benchmarks.md"));
const log = (line: string) => console.log(`[bench:autoscale] ${line}`);
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function run() {
  const { db } = await import("../server/db");
  const { createGateway } = await import("../server/gateway/server");
  const { startAutoscaler } = await import("../workers/jobs/autoscale");
  const { reconcileDeployment } = await import("../workers/reconcile/deployment");
  const { localDeploymentFixture, createApiKey } = await import("../tests/deployment-fixtures");
  const { callerFor, unique } = await import("../tests/helpers");

  const f = await localDeploymentFixture({ quota: 4, capacity: 4 });
  const orgId = f.tenant.org.id;
  const caller = callerFor(f.tenant.ownerId);
  const key = (await createApiKey(orgId, f.tenant.ownerId)).key;
  const name = unique("bench-elastic");
  const d = await caller.deployments.create({ orgId, name, catalogModelId: f.model.id, regionId: f.region.id, gpuTypeId: f.slot.id, replicas: 1, minReplicas: 1, maxReplicas: 1, dataClassification: "INTERNAL" });
  const policy = (overrides: Record<string, unknown>) =>
    caller.deployments.setAutoscaling({ orgId, deploymentId: d.id, enabled: true, minReplicas: 0, maxReplicas: 2, targetInFlight: 1, scaleUpWindowSeconds: 0, scaleDownWindowSeconds: 0, idleTimeoutSeconds: 1, ...overrides });

  const spoolRoot = mkdtempSync(path.join(os.tmpdir(), "enclave-bench-autoscale-"));
  const gateway = createGateway({ databaseUrl: process.env.DATABASE_URL!, port: 0, spoolDir: path.join(spoolRoot, "gw"), log: () => {} });
  await gateway.listen();
  const stopAutoscaler = await startAutoscaler({ connectionString: process.env.DATABASE_URL! });
  let reconciling = true;
  const reconcileLoop = (async () => {
    while (reconciling) {
      await reconcileDeployment(d.id, { driver: f.driver }).catch(() => {});
      await sleep(250);
    }
  })();
  const replicas = async () => (await db.deployment.findUniqueOrThrow({ where: { id: d.id }, select: { replicas: true } })).replicas;
  const ready = () => gateway.state.route(orgId, name)?.replicas.length ?? 0;
  const post = (body: object) => fetch(`${gateway.url}/v1/chat/completions`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${key}` }, body: JSON.stringify(body) });

  const coldStarts: number[] = [];
  const decisions: number[] = [];
  try {
    await policy({});
    for (let i = 0; i < COLD_STARTS; i++) {
      await until(async () => (await replicas()) === 0 && ready() === 0, 60_000, "scale to zero");
      await sleep(500);
      const t0 = performance.now();
      const res = await post({ model: name, stream: true, max_tokens: 8, messages: [{ role: "user", content: "Bonjour" }] });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = "";
      let first = 0;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
        if (!first && /"content":"[^"]/.test(text)) first = performance.now() - t0;
      }
      if (res.status !== 200 || !first) throw new Error(`cold start ${i + 1}: status ${res.status}, no token (${text.slice(0, 200)})`);
      coldStarts.push(first);
      log(`cold start ${i + 1}: first token after ${s(first)}`);
    }

    // At one replica, min 1: a load of LOAD requests, the time until the decision is written.
    await policy({ minReplicas: 1 });
    for (let i = 0; i < SCALE_RUNS; i++) {
      await until(async () => (await replicas()) === 1 && ready() === 1, 60_000, "one ready replica");
      await sleep(1500);
      const since = new Date();
      const t0 = performance.now();
      let loading = true;
      const load = Array.from({ length: LOAD }, async () => {
        while (loading) await (await post({ model: name, max_tokens: 64, messages: [{ role: "user", content: "Raconte une histoire" }] })).text();
      });
      await until(async () => (await db.deploymentEvent.count({ where: { deploymentId: d.id, reason: "ScaledUp", createdAt: { gte: since } } })) > 0, 30_000, "a scale-up decision");
      const event = await db.deploymentEvent.findFirstOrThrow({ where: { deploymentId: d.id, reason: "ScaledUp", createdAt: { gte: since } } });
      const elapsed = performance.now() - t0;
      loading = false;
      await Promise.all(load);
      decisions.push(elapsed);
      log(`load → decision ${i + 1}: ${s(elapsed)} (${event.message})`);
    }
  } finally {
    reconciling = false;
    await reconcileLoop;
    await stopAutoscaler();
    await gateway.close();
    for (const r of f.driver.recorded()) await f.driver.delete(r.replicaId);
    rmSync(f.stateDir, { recursive: true, force: true });
    rmSync(spoolRoot, { recursive: true, force: true });
  }

  const section = `## Autoscaling (\`npm run bench:autoscale\`)

Measured ${new Date().toISOString().slice(0, 10)} on ${os.cpus().length} CPU core(s) (${os.cpus()[0]?.model ?? "unknown CPU"}), the tiny model (CPU) served by the local driver, a real gateway and the workers' autoscaler at their default intervals (load signal written every 1 s, decisions every 1 s plus the NOTIFY of a held request), reconcile passes every 250 ms.

| measure | runs | median | min | max |
| --- | --- | --- | --- | --- |
| cold start: request at zero replicas → first streamed token | ${coldStarts.length} | ${s(median(coldStarts))} | ${s(Math.min(...coldStarts))} | ${s(Math.max(...coldStarts))} |
| load change (${LOAD} concurrent requests, target 1 per replica) → scale-up decision written | ${decisions.length} | ${s(median(decisions))} | ${s(Math.min(...decisions))} | ${s(Math.max(...decisions))} |

The cold start covers the wake-up (load row + NOTIFY), the decision, a reconcile pass, the model server's start and the gateway's route reload; how it splits between them is not measured here. The load → decision time includes up to two 1 s intervals (the gateway's write, then the autoscaler's pass) and the time the average in-flight needs to pass the target. Run on a 2-core machine shared with other work, with few runs (median of an even count: the lower middle value): read as orders of magnitude.`;
  console.log(`\n${section}\n`);
  if (output) writeBenchmarkSection(output, { start: SECTION_START, end: SECTION_END }, section);
}

const dataDir = path.join(ROOT, ".data", `bench-autoscale-${process.pid}`);
const database = await startEmbeddedPostgres({ dataDir, database: "bench", persistent: false, log });
let exitCode = 0;
try {
  await migrate(database.url);
  process.env.DATABASE_URL = database.url;
  process.env.NEXTAUTH_SECRET ??= "bench-autoscale";
  await run();
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  await database.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(exitCode);
