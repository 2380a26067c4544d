/**
 * The trace of one request through the gateway: the record the gateway spools with its usage
 * record (server/gateway/spool.ts), that PostgreSQL keeps in "Trace" (one row per request), that the
 * console draws as a waterfall, that REST returns, and that the OTLP exporter and the Prometheus
 * metrics read. See docs/traces.md.
 *
 * A W3C trace may span many services and many requests: the gateway's part of it is one root span
 * (kind "server", parented by the caller's `traceparent` when there is one) and its children. The
 * record is designed to grow: guardrail checks add spans named `apply_guardrail <check>` and entries
 * in `verdicts`; audit proofs add an `audit` entry. Readers must ignore span names and attributes they
 * do not know.
 */
import { randomBytes } from "node:crypto";
import type { GuardrailAction, GuardrailCheck, GuardrailOutcome, GuardrailStage, PiiType } from "../guardrails/types";

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
 * - `apply_guardrail <check>` (one per check that ran, OpenTelemetry GenAI guardrail conventions):
 *   `gen_ai.operation.name` "apply_guardrail", `gen_ai.provider.name`, `gen_ai.guardrail.component.name`
 *   (the check), `gen_ai.guardrail.policy.id` (the rule, e.g. "pii.input"), `gen_ai.guardrail.source`
 *   (input | output), `gen_ai.guardrail.result.type` "outcome", `gen_ai.guardrail.result.value` (the
 *   outcome), `enclave.guardrail.action`; events `gen_ai.guardrail.result` with the check's own fields
 *   (server/guardrails/apply.ts). Never the checked text.
 * - later issues: `audit.append`.
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

/**
 * One check's verdict on a request or its answer (server/guardrails/apply.ts). Types, counts,
 * positions (UTF-16 offsets into the checked text) and scores only: never the data a check found,
 * nor any of the text it read.
 */
export interface GuardrailVerdict {
  check: GuardrailCheck;
  stage: GuardrailStage;
  action: Exclude<GuardrailAction, "off">;
  outcome: GuardrailOutcome;
  /** Low-cardinality, written by the gateway (never the checked text): why the outcome is not a pass. */
  reason?: string;
  /** The check's own fields: PiiVerdictFindings, SchemaVerdictFindings or GroundedVerdictFindings. */
  findings?: PiiVerdictFindings | SchemaVerdictFindings | GroundedVerdictFindings | Record<string, unknown>;
  /** grounded: the score (0..1) the outcome was decided on. */
  score?: number;
}

/** Personal data found: how many of each type, and where (at most GUARDRAIL_MAX_POSITIONS of them). */
export interface PiiVerdictFindings {
  count: number;
  types: Partial<Record<PiiType, number>>;
  /**
   * `message`: the index in `messages` (input of a chat completion), of the prompt (a list of
   * prompts), or of the choice (output); `part`: the content part, when the message has parts.
   */
  positions: { type: PiiType; start: number; end: number; score: number; message?: number; part?: number }[];
  /** More were found than positions listed. */
  truncated?: boolean;
}

export interface SchemaVerdictFindings {
  valid: boolean;
  /** The validator's reason for an invalid answer (e.g. "truncated", "invalid_json", "schema"). */
  reason: string | null;
  /** Failing paths of the answer (JSON pointers) with the schema keyword that failed; at most GUARDRAIL_MAX_POSITIONS. */
  errors: { path: string; keyword: string; message: string }[];
}

export interface GroundedVerdictFindings {
  score: number;
  threshold: number;
  /** The built-in deterministic check's score, and the judge's when one answered. */
  builtinScore: number;
  judgeScore?: number;
  judge?: "deployment" | "http";
  /** Why the judge gave no score (a low-cardinality code: timeout, http_502, residency_refused, …). */
  judgeError?: string;
  sentences: number;
  unsupportedSentences: number;
  /** Unsupported spans of the answer: offsets and what made them unsupported (number, date, entity, citation…). */
  unsupported: { start: number; end: number; kind: string }[];
  sources: number;
}

/** At most this many positions (PII) or errors (schema) or spans (grounded) are kept in a verdict. */
export const GUARDRAIL_MAX_POSITIONS = 50;

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
