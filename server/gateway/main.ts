/**
 * `npm run gateway` (or `node <GATEWAY_NODE_FLAGS> --import tsx server/gateway/main.ts`, the flags listed once,
 * in node-flags.ts): the gateway process.
 *
 * DATABASE_URL        PostgreSQL (required)
 * GATEWAY_PORT        default 8080 (0: any free port; the chosen URL is logged)
 * GATEWAY_HOST        default 127.0.0.1 (0.0.0.0 to serve other machines)
 * GATEWAY_SPOOL_DIR   this process's usage spool; default <repo>/.data/gateway-spool/gw-<pid>-<random>.
 *                     Sibling directories of dead gateways are replayed at start.
 * GATEWAY_WORKERS     default 1: one process, one event loop. N > 1 (or "auto": one per core): a primary
 *                     forks N gateway processes on the same port (cluster.ts), worker i spooling to
 *                     <GATEWAY_SPOOL_DIR>-w<i>; /metrics answers for all of them (docs/gateway.md, "Several event loops").
 * Limits on clients (docs/gateway.md, "Limits"):
 * GATEWAY_HEADERS_TIMEOUT_MS            default 5000: request line and headers within this
 * GATEWAY_BODY_TIMEOUT_MS               default 5000: a body's deadline, plus its size at the rate below
 * GATEWAY_BODY_MIN_RATE                 default 65536 (bytes/s)
 * GATEWAY_KEEP_ALIVE_TIMEOUT_MS         default 10000: idle keep-alive connections closed after this
 * GATEWAY_MAX_CONNECTIONS_PER_ADDRESS   default 256 (0: no cap)
 * GATEWAY_AUTH_FAILURE_DELAY_MS         default 20: when an invalid key is answered, after arrival
 * GATEWAY_SPOOL_BATCH_MS                default 200: how often spooled usage is written to PostgreSQL
 * GATEWAY_TRACE_COMPRESSION             default worker: traces are compressed on a worker thread (inline: on the event loop)
 * Observability (docs/observability.md):
 * GATEWAY_METRICS                       default on: Prometheus text at GET /metrics (off: no route, nothing observed)
 * METRICS_TOKEN                         scrapes must send `Authorization: Bearer <it>`; unset: loopback clients only
 * OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME,
 * OTEL_BSP_*                            set: every request's spans are exported over OTLP/HTTP (JSON)
 * Guardrails (docs/guardrails.md, "In the gateway"):
 * GUARDRAILS_NER_URL                    a named-entity recogniser for person names (the sidecar contract); unset: no PERSON check
 * GUARDRAILS_NER_TIMEOUT_MS             default 500
 * GUARDRAILS_JUDGE_TIMEOUT_MS           default 10000: a groundedness judge slower than this is an `error` verdict
 * GUARDRAILS_STREAM_LOOKAHEAD           default 64: characters a stream's redaction may hold back
 */
import { randomBytes, randomUUID } from "node:crypto";
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { announceListening, clusterMetricsSource, isGatewayWorker, runPrimary } from "./cluster";
import { GATEWAY_NODE_FLAGS, startedWithGatewayFlags } from "./node-flags";
import type { TraceRecord } from "./trace";

const ROOT = path.resolve(import.meta.dirname, "..", "..");

const WORKERS_MESSAGE = 'GATEWAY_WORKERS must be a whole number from 1 to 64, or "auto"';

const schema = z.object({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, "DATABASE_URL must be a postgresql:// URL"),
  GATEWAY_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  GATEWAY_HOST: z.string().min(1).default("127.0.0.1"),
  GATEWAY_SPOOL_DIR: z.string().min(1).optional(),
  GATEWAY_WORKERS: z
    .string()
    .trim()
    .regex(/^(auto|\d{1,2})$/, WORKERS_MESSAGE)
    .default("1")
    .transform((v) => (v === "auto" ? Math.min(64, os.availableParallelism()) : Number(v)))
    .pipe(z.number().min(1, WORKERS_MESSAGE).max(64, WORKERS_MESSAGE)),
  GATEWAY_HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  GATEWAY_BODY_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5000),
  GATEWAY_BODY_MIN_RATE: z.coerce.number().int().min(1024).default(64 << 10),
  GATEWAY_KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(10_000),
  GATEWAY_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(0).default(256),
  GATEWAY_AUTH_FAILURE_DELAY_MS: z.coerce.number().int().min(0).max(1000).default(20),
  GATEWAY_SPOOL_BATCH_MS: z.coerce.number().int().min(10).max(60_000).default(200),
  GATEWAY_TRACE_COMPRESSION: z.enum(["worker", "inline"], { message: "GATEWAY_TRACE_COMPRESSION must be worker or inline" }).default("worker"),
  GATEWAY_METRICS: z.enum(["on", "off"], { message: "GATEWAY_METRICS must be on or off" }).default("on"),
  METRICS_TOKEN: z.string().trim().min(16, "METRICS_TOKEN must be at least 16 characters long").optional(),
  GUARDRAILS_NER_URL: z.string().regex(/^https?:\/\//, "GUARDRAILS_NER_URL must be an http(s):// URL").optional(),
  GUARDRAILS_NER_TIMEOUT_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  GUARDRAILS_JUDGE_TIMEOUT_MS: z.coerce.number().int().min(10).max(600_000).default(10_000),
  GUARDRAILS_STREAM_LOOKAHEAD: z.coerce.number().int().min(0).max(4096).default(64),
});

function log(level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}) {
  const line = JSON.stringify({ time: new Date().toISOString(), level, message, pid: process.pid, ...fields });
  if (level === "info") process.stdout.write(`${line}\n`);
  else process.stderr.write(`${line}\n`);
}

async function main() {
  const parsed = schema.safeParse(process.env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  - ${i.path.join(".")}: ${i.message}`).join("\n");
    process.stderr.write(`The gateway cannot start, the environment is invalid:\n${problems}\n`);
    process.exit(1);
  }
  const env = parsed.data;
  const spoolDir = path.resolve(env.GATEWAY_SPOOL_DIR ?? path.join(ROOT, ".data", "gateway-spool", `gw-${process.pid}-${randomBytes(3).toString("hex")}`));
  const worker = isGatewayWorker();
  if (!worker && !startedWithGatewayFlags()) {
    log("info", "gateway started without its node flags: a smaller young generation and GC helper threads, more full GCs and a longer latency tail (npm start and npm run gateway pass them)", { flags: GATEWAY_NODE_FLAGS.join(" ") });
  }
  if (env.GATEWAY_WORKERS > 1 && !worker) {
    // The primary: forks the gateway processes, restarts them, gathers their metrics; serves nothing itself.
    const url = await runPrimary({ workers: env.GATEWAY_WORKERS, spoolBase: spoolDir, log }).catch(() => null);
    // (A worker that failed to start has been logged; the primary exits once the others have stopped.)
    if (url !== null) log("info", "gateway listening", { url, workers: env.GATEWAY_WORKERS, spoolDirs: `${spoolDir}-w1…w${env.GATEWAY_WORKERS}`, metrics: env.GATEWAY_METRICS === "on" ? `${url}/metrics` : null });
    return;
  }
  const [{ createGatewayMetrics }, { createOtlpExport, otlpTracesConfigured }, { createGateway }] = await Promise.all([import("./metrics"), import("./otlp"), import("./server")]);
  const metrics = env.GATEWAY_METRICS === "on" ? createGatewayMetrics({ token: env.METRICS_TOKEN ?? null, exposition: worker ? clusterMetricsSource : undefined }) : null;
  const otlp = otlpTracesConfigured()
    ? createOtlpExport({ serviceInstanceId: randomUUID(), log, onSpans: metrics ? (outcome, n) => metrics.otlpSpans(outcome, n) : undefined })
    : null;
  const onTrace =
    metrics && otlp
      ? (trace: TraceRecord) => {
          metrics.observe(trace);
          otlp.export(trace);
        }
      : metrics
        ? metrics.observe
        : otlp
          ? otlp.export
          : undefined;
  const gateway = createGateway({
    databaseUrl: env.DATABASE_URL,
    host: env.GATEWAY_HOST,
    port: env.GATEWAY_PORT,
    spoolDir,
    headersTimeoutMs: env.GATEWAY_HEADERS_TIMEOUT_MS,
    bodyTimeoutMs: env.GATEWAY_BODY_TIMEOUT_MS,
    bodyMinBytesPerSecond: env.GATEWAY_BODY_MIN_RATE,
    keepAliveTimeoutMs: env.GATEWAY_KEEP_ALIVE_TIMEOUT_MS,
    maxConnectionsPerAddress: env.GATEWAY_MAX_CONNECTIONS_PER_ADDRESS,
    authFailureDelayMs: env.GATEWAY_AUTH_FAILURE_DELAY_MS,
    batchMs: env.GATEWAY_SPOOL_BATCH_MS,
    traceCompression: env.GATEWAY_TRACE_COMPRESSION,
    metrics: metrics ?? undefined,
    guardrails: {
      nerUrl: env.GUARDRAILS_NER_URL ?? null,
      nerTimeoutMs: env.GUARDRAILS_NER_TIMEOUT_MS,
      judgeTimeoutMs: env.GUARDRAILS_JUDGE_TIMEOUT_MS,
      streamLookahead: env.GUARDRAILS_STREAM_LOOKAHEAD,
    },
    onTrace,
    log,
  });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log("info", "gateway stopping", { signal });
    try {
      await gateway.close();
      // The last requests' spans, at most a few seconds (the collector may be gone).
      if (otlp) await Promise.race([otlp.shutdown().catch(() => {}), new Promise((r) => setTimeout(r, 5000).unref())]);
    } finally {
      process.exit(0);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  // Nothing can be served before keys and routes are loaded: wait for the database.
  for (let attempt = 0; ; attempt++) {
    try {
      const url = await gateway.listen();
      if (worker) {
        log("info", "gateway worker listening", { worker: Number(process.env.GATEWAY_WORKER_INDEX), url, spoolDir, otlp: otlp !== null });
        announceListening(url);
      } else log("info", "gateway listening", { url, spoolDir, metrics: metrics ? `${url}/metrics` : null, otlp: otlp !== null });
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "EADDRINUSE" || code === "EACCES" || /spool directory/.test(String(error))) throw error;
      if (attempt === 0 || attempt % 10 === 0) log("warn", "gateway could not start yet (is the database up?); retrying", { error: String(error) });
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 5))));
    }
  }
}

main().catch((error) => {
  log("error", "gateway failed to start", { error: error instanceof Error ? error.message : String(error) });
  process.exit(1);
});
