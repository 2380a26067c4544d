/**
 * The gateway's Prometheus metrics, served at `GET /metrics` on the gateway's own port in the
 * Prometheus text format (prom-client). See docs/observability.md.
 *
 * Per request the gateway's `onTrace` hook hands over the finished TraceRecord and `observe()`
 * bumps a few counters and histograms: label children are cached per deployment, so a request
 * costs two Map lookups and prom-client's own bookkeeping, nothing else. Everything else (spool
 * depth, limit state) is read when Prometheus scrapes. Labels are bounded: deployment ids, HTTP
 * status codes, a few fixed kinds — never keys, organisations' names or request ids.
 *
 * Access (the series name organisations' deployments): with a `METRICS_TOKEN`, scrapes must send
 * `Authorization: Bearer <token>`; without one, only loopback clients are answered.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AllowanceKind, LeaseStore } from "./limits";
import type { TraceRecord } from "./trace";
import { GUARDRAIL_OUTCOMES, GUARDRAIL_RULE_NAMES, type GuardrailRule } from "../guardrails/types";

/** Seconds. Covers a cached refusal (sub-millisecond) up to a long generation (5 min, the upstream timeout). */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const TTFT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Distinct upstream error kinds kept as label values; past this they count as "other". */
const MAX_ERROR_KINDS = 32;
const ERROR_KIND = /^[A-Za-z0-9_.]{1,40}$/;

export interface MetricsSources {
  /** `unsent` (queued + spilled to disk while the queue was full) when the spool has it, else `pending`. */
  spool: { readonly pending: number; readonly unsent?: number; readonly segmentCount?: number };
  /** Keys holding limit state in this process, by kind (`Limiter.heldAllowances`). */
  limiter?: { heldAllowances(): Record<AllowanceKind, number> } | null;
}

export interface GatewayMetrics {
  readonly registry: Registry;
  /** One finished request (the gateway's `onTrace` hook). Synchronous and cheap. */
  observe(trace: TraceRecord): void;
  /** The state read at scrape time. */
  attach(sources: MetricsSources): void;
  /** Wraps the Limiter's lease store to count leases by kind and outcome. */
  observeLeases(store: LeaseStore): LeaseStore;
  /** Counts what the OTLP exporter did with spans (server/gateway/otlp.ts). */
  otlpSpans(outcome: "exported" | "failed" | "dropped", count: number): void;
  /** Answers `GET /metrics`, after the access check. */
  serve(req: IncomingMessage, res: ServerResponse, requestId?: string): void;
}

interface DeploymentSeries {
  byStatus: Map<number, { inc(value?: number): void }>;
  duration: { observe(value: number): void };
  ttft: { observe(value: number): void };
  tokensIn: { inc(value?: number): void };
  tokensOut: { inc(value?: number): void };
}

export function createGatewayMetrics(
  options: {
    token?: string | null;
    defaultMetrics?: boolean;
    /**
     * In one of several worker processes (cluster.ts): what a scrape is answered, the whole
     * gateway's exposition gathered by the primary. Unset: this process's registry.
     */
    exposition?: (registry: Registry) => () => Promise<string>;
  } = {},
): GatewayMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  let sources: MetricsSources | null = null;

  const requests = new Counter({
    name: "enclave_gateway_requests_total",
    help: "Requests answered, by deployment id (empty before a deployment was found) and HTTP status.",
    labelNames: ["deployment", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "enclave_gateway_request_duration_seconds",
    help: "Time from a request's arrival to the end of its answer, by deployment id.",
    labelNames: ["deployment"] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const ttft = new Histogram({
    name: "enclave_gateway_time_to_first_token_seconds",
    help: "Time from a request's arrival to the model's first token (first byte of a non-streamed answer), by deployment id.",
    labelNames: ["deployment"] as const,
    buckets: TTFT_BUCKETS,
    registers: [registry],
  });
  const tokens = new Counter({
    name: "enclave_gateway_tokens_total",
    help: "Tokens metered, by deployment id and direction (input, output).",
    labelNames: ["deployment", "direction"] as const,
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: "enclave_gateway_upstream_errors_total",
    help: "Failed calls to model replicas (each attempt, retried or not), by kind (the upstream span's error.type).",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  const limitRefusals = new Counter({
    name: "enclave_gateway_limit_refusals_total",
    help: "Requests refused by a limit, by kind (requests_per_minute, tokens_per_minute, key_budget, org_budget).",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  const leases = new Counter({
    name: "enclave_gateway_limit_leases_total",
    help: "Slices of allowance leased from PostgreSQL, by kind (requests, tokens, budget) and outcome (granted: all asked; short: less, the window is drained; failed: PostgreSQL unreachable, enforced locally).",
    labelNames: ["kind", "outcome"] as const,
    registers: [registry],
  });
  const leasedUnits = new Counter({
    name: "enclave_gateway_limit_leased_units_total",
    help: "Units granted by those leases (requests, tokens, micro-euros), by kind.",
    labelNames: ["kind"] as const,
    registers: [registry],
  });
  new Gauge({
    name: "enclave_gateway_limit_allowances",
    help: "API keys holding limit state in this gateway, by kind (summed over its worker processes: a key served by two holds state in both).",
    labelNames: ["kind"] as const,
    registers: [registry],
    collect() {
      this.reset();
      const held = sources?.limiter?.heldAllowances();
      if (held) for (const kind of Object.keys(held) as AllowanceKind[]) this.set({ kind }, held[kind]);
    },
  });
  new Gauge({
    name: "enclave_gateway_spool_pending_records",
    help: "Usage and trace records in this gateway's spool (summed over its worker processes), not yet in PostgreSQL.",
    registers: [registry],
    collect() {
      this.set(sources?.spool.unsent ?? sources?.spool.pending ?? 0);
    },
  });
  new Gauge({
    name: "enclave_gateway_spool_segments",
    help: "Spool segment files on disk for this gateway (summed over its worker processes).",
    registers: [registry],
    collect() {
      this.set(sources?.spool.segmentCount ?? 0);
    },
  });
  const guardrailVerdicts = new Counter({
    name: "enclave_guardrail_verdicts_total",
    help: "Guardrail verdicts, by rule (schema.output, pii.input, pii.output, grounded.output) and outcome (pass, flagged, redacted, blocked, error).",
    labelNames: ["rule", "outcome"] as const,
    registers: [registry],
  });
  // Every (rule, outcome) child made once: a verdict costs a lookup, and the series exist from the start at 0.
  const verdictChildren = new Map<string, { inc(value?: number): void }>();
  for (const rule of GUARDRAIL_RULE_NAMES) for (const outcome of GUARDRAIL_OUTCOMES) verdictChildren.set(`${rule}|${outcome}`, guardrailVerdicts.labels({ rule, outcome }));
  const otlp = new Counter({
    name: "enclave_gateway_otlp_spans_total",
    help: "Spans handed to the OTLP exporter, by outcome (exported, failed, dropped: the queue was full).",
    labelNames: ["outcome"] as const,
    registers: [registry],
  });

  const byDeployment = new Map<string, DeploymentSeries>();
  function series(deployment: string): DeploymentSeries {
    let s = byDeployment.get(deployment);
    if (!s) {
      s = {
        byStatus: new Map(),
        duration: duration.labels({ deployment }),
        ttft: ttft.labels({ deployment }),
        tokensIn: tokens.labels({ deployment, direction: "input" }),
        tokensOut: tokens.labels({ deployment, direction: "output" }),
      };
      byDeployment.set(deployment, s);
    }
    return s;
  }

  /** A counter by `kind` whose values come from traces: well-formed and at most MAX_ERROR_KINDS of them, then "other". */
  function boundedKinds(counter: Counter<"kind">) {
    const children = new Map<string, { inc(value?: number): void }>();
    return (value: unknown) => {
      const kind = typeof value === "string" && ERROR_KIND.test(value) ? value : "other";
      let child = children.get(kind);
      if (!child) {
        child = children.size >= MAX_ERROR_KINDS ? (children.get("other") ?? counter.labels({ kind: "other" })) : counter.labels({ kind });
        children.set(children.size >= MAX_ERROR_KINDS ? "other" : kind, child);
      }
      child.inc();
    };
  }
  const upstreamError = boundedKinds(upstreamErrors);
  const limitRefusal = boundedKinds(limitRefusals);

  const accessToken = options.token ? digest(options.token) : null;
  const source = options.exposition ? { metrics: options.exposition(registry), contentType: registry.contentType } : registry;

  return {
    registry,
    observe(trace) {
      const s = series(trace.deploymentId ?? "");
      let counter = s.byStatus.get(trace.status);
      if (!counter) {
        counter = requests.labels({ deployment: trace.deploymentId ?? "", status: String(trace.status) });
        s.byStatus.set(trace.status, counter);
      }
      counter.inc();
      s.duration.observe(trace.durationMs / 1000);
      if (trace.ttftMs !== null) s.ttft.observe(trace.ttftMs / 1000);
      if (trace.tokensIn > 0) s.tokensIn.inc(trace.tokensIn);
      if (trace.tokensOut > 0) s.tokensOut.inc(trace.tokensOut);
      const spans = trace.spans;
      for (let i = 0; i < spans.length; i++) {
        const span = spans[i];
        if (span.status !== "error") continue;
        if (span.name === "upstream") upstreamError(span.attributes["error.type"]);
        else if (span.name === "limits") limitRefusal(span.attributes["enclave.limits.refused"]);
      }
      const verdicts = trace.verdicts;
      if (verdicts !== undefined) {
        for (let i = 0; i < verdicts.length; i++) {
          const v = verdicts[i];
          const rule = (v.check === "pii" ? `pii.${v.stage}` : `${v.check}.output`) as GuardrailRule;
          verdictChildren.get(`${rule}|${v.outcome}`)?.inc();
        }
      }
    },
    attach(next) {
      sources = next;
    },
    observeLeases(store) {
      return {
        async lease(keyId, kind, windowStart, want, limit) {
          let granted: number;
          try {
            granted = await store.lease(keyId, kind, windowStart, want, limit);
          } catch (error) {
            leases.inc({ kind, outcome: "failed" });
            throw error;
          }
          leases.inc({ kind, outcome: granted < Math.max(0, Math.floor(want)) ? "short" : "granted" });
          if (granted > 0) leasedUnits.inc({ kind }, granted);
          return granted;
        },
        giveBack: (keyId, kind, windowStart, amount) => store.giveBack(keyId, kind, windowStart, amount),
      };
    },
    otlpSpans(outcome, count) {
      if (count > 0) otlp.inc({ outcome }, count);
    },
    serve(req, res, requestId) {
      const refusal = metricsAccess(req, accessToken);
      if (refusal) return refuse(res, refusal.status, refusal.code, refusal.message, requestId);
      if (req.method !== "GET" && req.method !== "HEAD") return refuse(res, 405, "method_not_allowed", "The metrics are read with GET.", requestId);
      req.resume();
      serveRegistry(source, req, res, requestId);
    },
  };
}

/** A token's SHA-256, compared in constant time (equal lengths whatever the presented value). */
export function digest(token: string): Buffer {
  return createHash("sha256").update(token).digest();
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  if (address === "::1") return true;
  const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
  return v4.startsWith("127.");
}

/**
 * The access rule of every Enclave /metrics endpoint: with a token, a matching bearer token; without
 * one, a loopback client. Returns the refusal, or null when the scrape may proceed.
 */
export function metricsAccess(req: IncomingMessage, token: Buffer | null): { status: number; code: string; message: string } | null {
  if (token) {
    const header = req.headers.authorization;
    const presented = typeof header === "string" && header.slice(0, 7).toLowerCase() === "bearer " ? header.slice(7).trim() : null;
    if (presented !== null && timingSafeEqual(digest(presented), token)) return null;
    return { status: 401, code: "invalid_metrics_token", message: "The metrics need `Authorization: Bearer <METRICS_TOKEN>`." };
  }
  if (isLoopback(req.socket.remoteAddress)) return null;
  return { status: 403, code: "metrics_loopback_only", message: "Without METRICS_TOKEN, the metrics are served to loopback clients only." };
}

function refuse(res: ServerResponse, status: number, code: string, message: string, requestId?: string) {
  const body = Buffer.from(JSON.stringify({ error: { message, type: status === 405 ? "invalid_request_error" : "permission_error", param: null, code } }));
  const headers: (string | number)[] = ["content-type", "application/json", "content-length", body.length];
  if (requestId) headers.push("x-request-id", requestId);
  if (status === 401) headers.push("www-authenticate", 'Bearer realm="metrics"');
  res.writeHead(status, headers as unknown as string[]);
  res.end(body);
}

/** Writes a registry's exposition (text format 0.0.4). */
export function serveRegistry(registry: Pick<Registry, "metrics" | "contentType">, req: IncomingMessage, res: ServerResponse, requestId?: string) {
  registry.metrics().then(
    (text) => {
      const body = Buffer.from(text);
      const headers: (string | number)[] = ["content-type", registry.contentType, "content-length", body.length, "cache-control", "no-store"];
      if (requestId) headers.push("x-request-id", requestId);
      res.writeHead(200, headers as unknown as string[]);
      res.end(req.method === "HEAD" ? undefined : body);
    },
    (error: unknown) => {
      const body = Buffer.from(`# metrics could not be collected: ${error instanceof Error ? error.message : String(error)}\n`);
      res.writeHead(500, ["content-type", "text/plain; charset=utf-8", "content-length", body.length] as unknown as string[]);
      res.end(body);
    },
  );
}
