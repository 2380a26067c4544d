/**
 * The trace of one request through the gateway: the record the gateway spools with its usage
 * record (server/gateway/spool.ts), that PostgreSQL keeps in "Trace" (one row per request), that the
 * console draws as a waterfall, that REST returns, and that the OTLP exporter and the Prometheus
 * metrics read. See docs/traces.md.
 *
 * A W3C trace may span many services and many requests: the gateway's part of it is one root span
 * (kind "server", parented by the caller's `traceparent` when there is one) and its children. The
 * record is designed to grow: guardrail checks add spans named `guardrail.<check>` and entries in
 * `verdicts`; audit proofs add an `audit` entry. Readers must ignore span names and attributes they
 * do not know.
 */
import { randomBytes } from "node:crypto";

/** Scalar attribute values, as OpenTelemetry allows them (arrays of one scalar type included). */
export type AttributeValue = string | number | boolean | string[] | number[] | boolean[];
export type Attributes = Record<string, AttributeValue>;

export type SpanKind = "server" | "internal" | "client";
export type SpanStatus = "ok" | "error" | "unset";

/**
 * Span names the gateway writes (children of `gateway.request`, in this order when they happen):
 * - `auth`: `enclave.api_key.id`, `enclave.api_key.name`, `enclave.api_key.prefix`, `enclave.api_key.scopes`
 * - `residency`: `enclave.data_class`, `enclave.residency.verdict` ("allowed" | "refused"), `enclave.residency.reasons` (string[])
 * - `limits`: `enclave.limits.checked` (string[]: "requests_per_minute" | "tokens_per_minute" | "key_budget" | "org_budget"),
 *   `enclave.limits.remaining.<kind>` (number), `enclave.limits.refused` (kind, when refused)
 * - `route`: `enclave.region.id`, `enclave.region.code`, `enclave.deployment.id`, `enclave.deployment.name`,
 *   `enclave.deployment.revision`, `enclave.replica.id`, `enclave.cluster.ref`, `enclave.artifact.uri`,
 *   `enclave.artifact.sha256`, `enclave.route.attempt` (1-based)
 * - `upstream` (kind "client", one per attempt; a failed attempt has status "error" and `error.type`):
 *   `server.address`, `server.port`, events `connected` and `first_token` (atMs), `enclave.upstream.status`,
 *   `gen_ai.usage.output_tokens`, `enclave.upstream.output_tokens_per_second`
 * - later issues: `guardrail.<check>` (stage input|output), `audit.append`.
 */
export interface SpanRecord {
  /** 16 lowercase hex digits. */
  spanId: string;
  /** null only for the root span when the request carried no `traceparent`. */
  parentSpanId: string | null;
  name: string;
  kind: SpanKind;
  /** Milliseconds from the record's `startedAt` (fractional: microsecond precision). */
  startMs: number;
  durationMs: number;
  status: SpanStatus;
  /** Dotted keys: `enclave.*` for ours, OpenTelemetry semantic conventions (`gen_ai.*`, `server.*`, `error.type`) otherwise. */
  attributes: Attributes;
  events?: SpanEvent[];
}

export interface SpanEvent {
  name: string;
  /** Milliseconds from the record's `startedAt`. */
  atMs: number;
  attributes?: Attributes;
}

/** One check's verdict on a request or its answer (built by the guardrails issue; the shape is fixed here). */
export interface GuardrailVerdict {
  check: string;
  stage: "input" | "output";
  action: "observe" | "redact" | "block";
  outcome: "pass" | "flagged" | "redacted" | "blocked" | "error";
  /** Types, counts, positions and scores only: never the personal data found. */
  findings?: Record<string, unknown>;
  score?: number;
}

export interface TraceRecord {
  version: 1;
  /** 32 lowercase hex digits: the caller's trace id, or a new one. */
  traceId: string;
  /** The gateway's root span (`gateway.request`). */
  spanId: string;
  /** The caller's span, from its `traceparent`; null when the gateway started the trace. */
  parentSpanId: string | null;
  /** The W3C `sampled` flag as received (or true): exporters honour it, the database keeps every request. */
  sampled: boolean;
  /** The `x-request-id` answered to the client. */
  requestId: string;
  /** The usage record's id (UsageRecord), which ties the trace to what was billed. */
  recordId: string;
  orgId: string;
  apiKeyId: string | null;
  deploymentId: string | null;
  regionId: string | null;
  /** The `model` the request asked for. */
  model: string | null;
  endpoint: string;
  stream: boolean;
  dataClass: string | null;
  /** HTTP status answered (499 when the client went away). */
  status: number;
  /** The OpenAI-shaped error code answered, if any. */
  errorCode: string | null;
  /** Epoch milliseconds when the request arrived. */
  startedAt: number;
  durationMs: number;
  ttftMs: number | null;
  tokensIn: number;
  tokensOut: number;
  costMicroEur: number;
  spans: SpanRecord[];
  verdicts?: GuardrailVerdict[];
  /** Prompt and completion, only when the key's organisation turned content capture on for that key. */
  content?: { request: unknown; completion: string | null } | null;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
const ZERO_TRACE = "0".repeat(32);
const ZERO_SPAN = "0".repeat(16);

export interface TraceContext {
  traceId: string;
  parentSpanId: string | null;
  sampled: boolean;
}

/**
 * Parses a W3C `traceparent` header (https://www.w3.org/TR/trace-context/#traceparent-header).
 * Returns null for an absent or invalid one (the gateway then starts a new trace, as the
 * specification asks): version ff, all-zero ids, upper-case hex and version 00 with extra fields
 * are invalid.
 */
export function parseTraceparent(header: string | string[] | undefined): TraceContext | null {
  if (typeof header !== "string" || header.length > 512) return null;
  const m = TRACEPARENT.exec(header.trim());
  if (!m) return null;
  const [, version, traceId, parent, flags] = m;
  if (version === "ff" || traceId === ZERO_TRACE || parent === ZERO_SPAN) return null;
  if (version === "00" && header.trim().length !== 55) return null;
  return { traceId, parentSpanId: parent, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? "01" : "00"}`;
}

/** Random ids: a pool of random bytes refilled in blocks, so an id costs no system call. */
let pool = randomBytes(0);
let poolAt = 0;
function hex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  const s = pool.toString("hex", poolAt, poolAt + bytes);
  poolAt += bytes;
  return s;
}

export function newTraceId(): string {
  let id = hex(16);
  while (id === ZERO_TRACE) id = hex(16);
  return id;
}

export function newSpanId(): string {
  let id = hex(8);
  while (id === ZERO_SPAN) id = hex(8);
  return id;
}
