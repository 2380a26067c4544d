/**
 * Trace rows for the readers' tests: a valid TraceRecord of one request (the spans the gateway
 * writes, in its order, with the attributes listed in server/gateway/trace.ts), stored as the
 * gateway stores it ("Trace": columns plus the record without its content).
 */
import { randomUUID } from "node:crypto";
import { db } from "@/server/db";
import { newSpanId, newTraceId, type SpanRecord, type TraceRecord } from "@/server/gateway/trace";
import { compressTraceRecord } from "@/server/gateway/trace-sql";

export interface TraceFixtureOptions {
  orgId: string;
  traceId?: string;
  /** The caller's span (from its traceparent); null: the gateway started the trace. */
  parentSpanId?: string | null;
  startedAt?: Date;
  apiKey?: { id: string; name: string; prefix: string } | null;
  deployment?: { id: string; name: string } | null;
  region?: { id: string; code: string } | null;
  model?: string;
  status?: number;
  errorCode?: string | null;
  durationMs?: number;
  ttftMs?: number | null;
  tokensIn?: number;
  tokensOut?: number;
  costMicroEur?: number;
  artifact?: { uri: string; sha256: string };
  /** Extra spans (e.g. a later issue's guardrail span), parented by the root. */
  extraSpans?: Omit<SpanRecord, "spanId" | "parentSpanId">[];
  verdicts?: TraceRecord["verdicts"];
  content?: TraceRecord["content"];
}

/** A whole request's record: gateway.request ⊃ auth, residency, limits, route, upstream. */
export function traceRecord(o: TraceFixtureOptions): TraceRecord {
  const traceId = o.traceId ?? newTraceId();
  const root = newSpanId();
  const startedAt = (o.startedAt ?? new Date()).getTime();
  const durationMs = o.durationMs ?? 42.125;
  const ttftMs = o.ttftMs === undefined ? 18.5 : o.ttftMs;
  const status = o.status ?? 200;
  const key = o.apiKey === undefined ? null : o.apiKey;
  const deployment = o.deployment ?? null;
  const region = o.region ?? null;
  const artifact = o.artifact ?? { uri: "hf://enclave/tiny-random-llama/model.gguf", sha256: "ab".repeat(32) };
  const child = (name: string, startMs: number, duration: number, attributes: SpanRecord["attributes"], extra: Partial<SpanRecord> = {}): SpanRecord => ({
    spanId: newSpanId(),
    parentSpanId: root,
    name,
    kind: "internal",
    startMs,
    durationMs: duration,
    status: "ok",
    attributes,
    ...extra,
  });
  const spans: SpanRecord[] = [
    {
      spanId: root,
      parentSpanId: o.parentSpanId ?? null,
      name: "gateway.request",
      kind: "server",
      startMs: 0,
      durationMs,
      status: status >= 400 ? "error" : "ok",
      attributes: { "http.request.method": "POST", "url.path": "/v1/chat/completions", "http.response.status_code": status },
    },
    child("auth", 0.05, 0.11, key ? { "enclave.api_key.id": key.id, "enclave.api_key.name": key.name, "enclave.api_key.prefix": key.prefix, "enclave.api_key.scopes": ["inference"] } : {}),
    child("residency", 0.17, 0.04, {
      "enclave.data_class": "INTERNAL",
      "enclave.residency.verdict": "allowed",
      "enclave.residency.policy": "applied",
      "enclave.residency.reasons": ["Region jurisdiction FR is allowed for INTERNAL data", "No extraterritorial exposure"],
    }),
    child("limits", 0.22, 0.03, { "enclave.limits.checked": ["requests_per_minute", "tokens_per_minute"], "enclave.limits.remaining.requests_per_minute": 599 }),
    child("route", 0.26, 0.05, {
      ...(region ? { "enclave.region.id": region.id, "enclave.region.code": region.code } : {}),
      ...(deployment ? { "enclave.deployment.id": deployment.id, "enclave.deployment.name": deployment.name } : {}),
      "enclave.deployment.revision": 1,
      "enclave.replica.id": "replica-0",
      "enclave.cluster.ref": "local://replica-0",
      "enclave.artifact.uri": artifact.uri,
      "enclave.artifact.sha256": artifact.sha256,
      "enclave.route.attempt": 1,
    }),
    child(
      "upstream",
      0.35,
      Math.max(0, durationMs - 0.5),
      { "server.address": "127.0.0.1", "server.port": 41000, "enclave.upstream.status": status, "gen_ai.usage.output_tokens": o.tokensOut ?? 20, "enclave.upstream.output_tokens_per_second": 512.5 },
      { kind: "client", status: status >= 500 ? "error" : "ok", events: [{ name: "connected", atMs: 0.9 }, ...(ttftMs === null ? [] : [{ name: "first_token", atMs: ttftMs }])] },
    ),
    ...(o.extraSpans ?? []).map((s) => ({ ...s, spanId: newSpanId(), parentSpanId: root })),
  ];
  return {
    version: 1,
    traceId,
    spanId: root,
    parentSpanId: o.parentSpanId ?? null,
    sampled: true,
    requestId: `req_${randomUUID()}`,
    recordId: randomUUID(),
    orgId: o.orgId,
    apiKeyId: key?.id ?? null,
    deploymentId: deployment?.id ?? null,
    regionId: region?.id ?? null,
    model: o.model ?? deployment?.name ?? "tiny-demo",
    endpoint: "/v1/chat/completions",
    stream: false,
    dataClass: "INTERNAL",
    status,
    errorCode: o.errorCode ?? (status >= 400 ? "upstream_error" : null),
    startedAt,
    durationMs,
    ttftMs,
    tokensIn: o.tokensIn ?? 10,
    tokensOut: o.tokensOut ?? 20,
    costMicroEur: o.costMicroEur ?? 42,
    spans,
    ...(o.verdicts ? { verdicts: o.verdicts } : {}),
    content: o.content ?? null,
  };
}

/**
 * Stores a record as the gateway does: the columns, the record without its content (compressed,
 * or `legacy`: as json, as rows written before records were compressed), the content apart.
 */
export async function insertTrace(record: TraceRecord, options: { legacy?: boolean } = {}) {
  const { content, ...stored } = record;
  await db.trace.create({
    data: {
      spanId: record.spanId,
      startedAt: new Date(record.startedAt),
      traceId: record.traceId,
      orgId: record.orgId,
      requestId: record.requestId,
      recordId: record.recordId,
      apiKeyId: record.apiKeyId,
      deploymentId: record.deploymentId,
      regionId: record.regionId,
      model: record.model,
      endpoint: record.endpoint,
      status: record.status,
      errorCode: record.errorCode,
      durationMs: record.durationMs,
      ttftMs: record.ttftMs,
      tokensIn: record.tokensIn,
      tokensOut: record.tokensOut,
      costMicroEur: record.costMicroEur,
      dataClass: record.dataClass,
      ...(options.legacy ? { record: stored as object } : { stream: record.stream, recordZlib: new Uint8Array(compressTraceRecord(JSON.stringify(stored))) }),
      ...(content ? { content: content as object } : {}),
    },
  });
  return record;
}

export async function createTrace(o: TraceFixtureOptions) {
  return insertTrace(traceRecord(o));
}
