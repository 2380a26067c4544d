/**
 * Export of the gateway's traces over OTLP/HTTP (JSON), with the OpenTelemetry JS SDK's
 * BatchSpanProcessor and OTLP exporter, when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set. See docs/observability.md.
 *
 * The gateway does not trace through the SDK's tracer: each request's TraceRecord (server/gateway/
 * trace.ts) already holds its spans with their ids, parents and timings, so they are turned into
 * the SDK's ReadableSpan objects as they are — the trace id is the caller's (from `traceparent`),
 * the root span's parent is the caller's span. The request span follows the OpenTelemetry GenAI
 * semantic conventions (`chat <model>`, `gen_ai.*`). Records are only queued on the request path;
 * they are converted after the current I/O turn and batched to the collector off the hot path.
 * Unsampled traces (W3C flag 00) are not exported. No prompt, completion or secret is exported.
 *
 * Guardrail checks are already spans of the record in the conventions' shape (`apply_guardrail
 * <check>`, `gen_ai.operation.name` "apply_guardrail", `gen_ai.guardrail.*` attributes, one
 * `gen_ai.guardrail.result` event per result with the check's own fields): they are exported like
 * the other children, their events with their attributes. The record's `verdicts` repeat them and
 * are not exported a second time.
 */
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime, type SpanContext } from "@opentelemetry/api";
import { ExportResultCode, type ExportResult } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { defaultResource, detectResources, envDetector, resourceFromAttributes, type Resource } from "@opentelemetry/resources";
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_INSTANCE_ID,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
} from "@opentelemetry/semantic-conventions";
import type { SpanRecord, TraceRecord } from "./trace";

// GenAI attributes are still "incubating" in OpenTelemetry: the package's own advice is to copy
// them rather than import its incubating entry point, whose names may change in a minor release.
export const GEN_AI = {
  operationName: "gen_ai.operation.name",
  providerName: "gen_ai.provider.name",
  requestModel: "gen_ai.request.model",
  responseModel: "gen_ai.response.model",
  inputTokens: "gen_ai.usage.input_tokens",
  outputTokens: "gen_ai.usage.output_tokens",
  /** The guardrail conventions (semantic-conventions-genai, docs/gen-ai/gen-ai-guardrails.md). */
  guardrailOperation: "apply_guardrail",
  guardrailResultEvent: "gen_ai.guardrail.result",
} as const;

/** `gen_ai.provider.name`: the platform that serves the model (the runtime is not the provider). */
export const GEN_AI_PROVIDER = "enclave";

const OPERATIONS: Record<string, string> = {
  "/v1/chat/completions": "chat",
  "/v1/completions": "text_completion",
  "/v1/embeddings": "embeddings",
};
const KNOWN_ROUTES = new Set(["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/models"]);

/** Attributes never exported, whatever a span carries: conversation content (the conventions' opt-in ones) and ours. */
const CONTENT_ATTRIBUTE = /^(gen_ai\.(prompt|completion|input\.messages|output\.messages|system_instructions|tool\.call\.(arguments|result))|enclave\.content)/;
/** An API key, wherever it might have been pasted (a path, a model name): never exported. */
const API_KEY = /enc_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}/;

/** Client text (a path, a model name) is clipped to this many characters. */
const MAX_STRING = 1024;

const KINDS = { server: SpanKind.SERVER, client: SpanKind.CLIENT, internal: SpanKind.INTERNAL } as const;
const STATUSES = { ok: SpanStatusCode.OK, error: SpanStatusCode.ERROR, unset: SpanStatusCode.UNSET } as const;

type Log = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

export interface OtlpExportOptions {
  /** The collector's traces URL; default from the OTEL_EXPORTER_OTLP_* variables, as the SDK reads them. */
  url?: string;
  headers?: Record<string, string>;
  serviceName?: string;
  serviceVersion?: string;
  serviceInstanceId?: string;
  log?: Log;
  /** Counts spans by outcome (the Prometheus metrics). */
  onSpans?: (outcome: "exported" | "failed" | "dropped", count: number) => void;
  /** Records waiting for conversion; past this they are dropped (and counted). */
  maxPendingRecords?: number;
}

export interface OtlpTraceExport {
  /** Queues a finished request's trace (the gateway's `onTrace` hook). Synchronous and cheap. */
  export(trace: TraceRecord): void;
  /** Sends everything queued so far. */
  flush(): Promise<void>;
  /** Flushes, then stops the exporter. */
  shutdown(): Promise<void>;
}

/** Whether the environment asks for OTLP trace export (the OpenTelemetry variables). */
export function otlpTracesConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? "otlp").split(",").map((s) => s.trim().toLowerCase());
  if (!exporters.includes("otlp")) return false;
  return Boolean(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim());
}

export function createOtlpExport(options: OtlpExportOptions = {}): OtlpTraceExport {
  const log = options.log ?? (() => {});
  const resource = defaultResource()
    .merge(
      resourceFromAttributes({
        [ATTR_SERVICE_NAME]: options.serviceName ?? "enclave-gateway",
        ...(options.serviceVersion ? { [ATTR_SERVICE_VERSION]: options.serviceVersion } : {}),
        ...(options.serviceInstanceId ? { [ATTR_SERVICE_INSTANCE_ID]: options.serviceInstanceId } : {}),
      }),
    )
    // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win, as everywhere in OpenTelemetry.
    .merge(detectResources({ detectors: [envDetector] }));
  const scope = { name: "enclave-gateway", version: options.serviceVersion };
  // Spans handed to the processor and not yet exported or failed: kept under its queue size, so
  // that the SDK (which drops silently) never has to drop and every drop here is counted.
  let inProcessor = 0;
  const exporter = new CountingExporter(new OTLPTraceExporter({ url: options.url, headers: options.headers }), log, (outcome, count) => {
    inProcessor = Math.max(0, inProcessor - count);
    options.onSpans?.(outcome, count);
  });
  // Larger defaults than the SDK's (2048 spans, every 5 s): at 500 requests/s a request's ~6 spans
  // would overflow them. OTEL_BSP_* variables still win.
  const env = process.env;
  const maxQueue = Number(env.OTEL_BSP_MAX_QUEUE_SIZE) > 0 ? Number(env.OTEL_BSP_MAX_QUEUE_SIZE) : 32_768;
  const processor = new BatchSpanProcessor(exporter, {
    ...(env.OTEL_BSP_MAX_QUEUE_SIZE ? {} : { maxQueueSize: maxQueue }),
    ...(env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE ? {} : { maxExportBatchSize: 2048 }),
    ...(env.OTEL_BSP_SCHEDULE_DELAY ? {} : { scheduledDelayMillis: 1000 }),
  });
  const maxPending = options.maxPendingRecords ?? 8192;
  let pending: TraceRecord[] = [];
  let scheduled = false;
  let stopped = false;

  const drain = () => {
    scheduled = false;
    const batch = pending;
    pending = [];
    for (const trace of batch) {
      try {
        const spans = toReadableSpans(trace, resource, scope);
        if (inProcessor + spans.length > maxQueue) {
          options.onSpans?.("dropped", spans.length);
          continue;
        }
        inProcessor += spans.length;
        for (const span of spans) processor.onEnd(span);
      } catch (error) {
        log("warn", "gateway could not convert a trace for OTLP export", { traceId: trace.traceId, error: String(error) });
      }
    }
  };

  return {
    export(trace) {
      if (stopped || !trace.sampled) return;
      if (pending.length >= maxPending) {
        options.onSpans?.("dropped", trace.spans.length || 1);
        return;
      }
      pending.push(trace);
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    },
    async flush() {
      drain();
      await processor.forceFlush();
    },
    async shutdown() {
      if (stopped) return;
      drain();
      stopped = true;
      await processor.shutdown();
    },
  };
}

/** Counts and logs (at most every 30 s) what the real exporter did with each batch. */
class CountingExporter implements SpanExporter {
  private lastWarning = 0;
  constructor(
    private readonly inner: SpanExporter,
    private readonly log: Log,
    private readonly onSpans?: (outcome: "exported" | "failed", count: number) => void,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
    this.inner.export(spans, (result) => {
      const ok = result.code === ExportResultCode.SUCCESS;
      this.onSpans?.(ok ? "exported" : "failed", spans.length);
      if (!ok && Date.now() - this.lastWarning > 30_000) {
        this.lastWarning = Date.now();
        this.log("warn", "gateway could not export spans over OTLP", { spans: spans.length, error: result.error?.message ?? "unknown" });
      }
      done(result);
    });
  }

  shutdown() {
    return this.inner.shutdown();
  }

  forceFlush() {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/** Epoch milliseconds (fractional) as OpenTelemetry's [seconds, nanoseconds]. */
export function hrTime(epochMs: number): HrTime {
  let seconds = Math.floor(epochMs / 1000);
  let nanos = Math.round((epochMs - seconds * 1000) * 1e6);
  if (nanos >= 1e9) {
    seconds += 1;
    nanos -= 1e9;
  }
  return [seconds, nanos];
}

function duration(ms: number): HrTime {
  return hrTime(Math.max(0, ms));
}

function exportable(attributes: Record<string, unknown>, into: Attributes) {
  for (const key in attributes) {
    if (CONTENT_ATTRIBUTE.test(key)) continue;
    const value = attributes[key];
    if (typeof value === "string" && API_KEY.test(value)) continue;
    if (typeof value === "string" && value.length > MAX_STRING) {
      into[key] = `${value.slice(0, MAX_STRING)}…`;
      continue;
    }
    if (Array.isArray(value) && value.some((v) => typeof v === "string" && API_KEY.test(v))) continue;
    into[key] = value as Attributes[string];
  }
  return into;
}

/**
 * The spans of one request, as the SDK's exporters expect them. The root (`gateway.request` in the
 * record) becomes the GenAI request span; children keep their names, kinds and attributes.
 */
export function toReadableSpans(trace: TraceRecord, resource: Resource, scope: { name: string; version?: string }): ReadableSpan[] {
  const flags = trace.sampled ? TraceFlags.SAMPLED : TraceFlags.NONE;
  const context = (spanId: string, isRemote = false): SpanContext => ({ traceId: trace.traceId, spanId, traceFlags: flags, isRemote });
  const rootRecord = trace.spans.find((s) => s.spanId === trace.spanId);
  const root: SpanRecord = rootRecord ?? {
    spanId: trace.spanId,
    parentSpanId: trace.parentSpanId,
    name: "gateway.request",
    kind: "server",
    startMs: 0,
    durationMs: trace.durationMs,
    status: trace.status >= 500 ? "error" : "unset",
    attributes: {},
  };
  const spans: ReadableSpan[] = [];
  const build = (record: SpanRecord, name: string, attributes: Attributes, status: { code: SpanStatusCode; message?: string }): ReadableSpan => {
    const start = trace.startedAt + record.startMs;
    const parentId = record.spanId === trace.spanId ? trace.parentSpanId : record.parentSpanId ?? trace.spanId;
    return {
      name,
      kind: KINDS[record.kind] ?? SpanKind.INTERNAL,
      spanContext: () => context(record.spanId),
      // The root's parent is the caller's span (remote); every other parent is ours.
      parentSpanContext: parentId ? context(parentId, record.spanId === trace.spanId) : undefined,
      startTime: hrTime(start),
      endTime: hrTime(start + Math.max(0, record.durationMs)),
      duration: duration(record.durationMs),
      status,
      attributes,
      links: [],
      events: (record.events ?? []).map((e) => ({ name: e.name, time: hrTime(trace.startedAt + e.atMs), attributes: e.attributes ? exportable(e.attributes, {}) : undefined })),
      ended: true,
      resource,
      instrumentationScope: scope,
      droppedAttributesCount: 0,
      droppedEventsCount: 0,
      droppedLinksCount: 0,
    };
  };

  // The request span: GenAI conventions (span name "{operation} {model}") plus the HTTP server's.
  const operation = OPERATIONS[trace.endpoint];
  const route = KNOWN_ROUTES.has(trace.endpoint) ? trace.endpoint : null;
  const model = trace.model && !API_KEY.test(trace.model) ? trace.model : null;
  const attributes = exportable(root.attributes, {});
  const upstream = trace.spans.filter((s) => s.name === "upstream");
  if (operation) {
    attributes[GEN_AI.operationName] = operation;
    attributes[GEN_AI.providerName] = GEN_AI_PROVIDER;
    if (model) attributes[GEN_AI.requestModel] = model;
    if (upstream.length > 0) {
      // The model that answered: the replica's own name for it when recorded, else the deployment asked for.
      const answered = upstream[upstream.length - 1].attributes[GEN_AI.responseModel];
      if (typeof answered === "string" && !API_KEY.test(answered)) attributes[GEN_AI.responseModel] = answered;
      else if (model && trace.status < 400) attributes[GEN_AI.responseModel] = model;
      attributes[GEN_AI.inputTokens] = trace.tokensIn;
      attributes[GEN_AI.outputTokens] = trace.tokensOut;
    }
  }
  if (route) attributes[ATTR_HTTP_ROUTE] = route;
  attributes[ATTR_HTTP_REQUEST_METHOD] ??= route === "/v1/models" ? "GET" : "POST";
  attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = trace.status;
  attributes["enclave.request.id"] = trace.requestId;
  attributes["enclave.record.id"] = trace.recordId;
  if (trace.orgId) attributes["enclave.org.id"] = trace.orgId;
  if (trace.apiKeyId) attributes["enclave.api_key.id"] = trace.apiKeyId;
  if (trace.deploymentId) attributes["enclave.deployment.id"] = trace.deploymentId;
  if (trace.regionId) attributes["enclave.region.id"] = trace.regionId;
  if (trace.dataClass) attributes["enclave.data_class"] = trace.dataClass;
  attributes["enclave.stream"] = trace.stream;
  if (trace.ttftMs !== null) attributes["enclave.ttft_ms"] = trace.ttftMs;
  attributes["enclave.cost_micro_eur"] = trace.costMicroEur;
  if (trace.errorCode) attributes[ATTR_ERROR_TYPE] = trace.errorCode;
  else if (trace.status >= 400) attributes[ATTR_ERROR_TYPE] ??= String(trace.status);
  // HTTP server convention: a 4xx is the client's failure, not the server span's.
  const rootStatus = trace.status >= 500 ? { code: SpanStatusCode.ERROR, message: trace.errorCode ?? undefined } : { code: root.status === "ok" ? SpanStatusCode.OK : SpanStatusCode.UNSET };
  const rootName = operation ? (model ? `${operation} ${model}` : operation) : route ? `${attributes[ATTR_HTTP_REQUEST_METHOD]} ${route}` : root.name;
  spans.push(build(root, rootName, attributes, rootStatus));

  for (const record of trace.spans) {
    if (record.spanId === trace.spanId) continue;
    const attrs = exportable(record.attributes, {});
    const status = STATUSES[record.status] ?? SpanStatusCode.UNSET;
    const message = status === SpanStatusCode.ERROR && typeof attrs[ATTR_ERROR_TYPE] === "string" ? (attrs[ATTR_ERROR_TYPE] as string) : undefined;
    spans.push(build(record, record.name, attrs, { code: status, message }));
  }
  return spans;
}
