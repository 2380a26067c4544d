/**
 * Builds the trace of one request through the gateway (the `TraceRecord` of trace.ts) as the
 * request goes: one `RequestTrace` per request, spans appended with their `performance.now()`
 * times, the record assembled once, when the request is answered. See docs/traces.md.
 *
 * Cheap on purpose (the gateway's hot path): no closures, no copies of the request; the attributes
 * that only depend on the key, the route or the replica are built once per load (state.ts) and
 * shared by every record that uses them — readers of a record (onTrace listeners) must not modify
 * them.
 */
import type { GatewayErrorBody } from "./errors";
import {
  formatTraceparent,
  newSpanId,
  newTraceId,
  parseTraceparent,
  type Attributes,
  type GuardrailVerdict,
  type SpanEvent,
  type SpanKind,
  type SpanRecord,
  type SpanStatus,
  type TraceRecord,
} from "./trace";

/** The most of a request body kept in a trace when content capture is on (bytes of its JSON). */
export const CONTENT_REQUEST_MAX_BYTES = 64 << 10;
/** The most of a completion kept in a trace when content capture is on (characters). */
export const CONTENT_COMPLETION_MAX_CHARS = 64 << 10;

const NO_SPANS: SpanRecord[] = Object.freeze([]) as unknown as SpanRecord[];

/** Microsecond precision, as SpanRecord asks. */
const us = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * JSON.stringify writes a lone surrogate (a client's malformed model name or prompt) as a `\\udXXX`
 * escape, which PostgreSQL's JSON parser refuses; paired surrogates are written as they are, so every
 * such escape (not preceded by an escaped backslash) is a lone one and becomes U+FFFD, like NUL.
 */
const UNSTORABLE_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi;

/** Makes JSON text storable as PostgreSQL json/jsonb: NUL and lone surrogates become U+FFFD. */
export function storableJson(json: string): string {
  return json.includes("\\u") ? json.replace(UNSTORABLE_ESCAPE, "$1\\ufffd") : json;
}

export class RequestTrace {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | null;
  readonly sampled: boolean;
  /** The `traceparent` answered: our trace id and root span. */
  readonly traceparent: string;
  spans: SpanRecord[] = [];
  orgId = "";
  apiKeyId: string | null = null;
  deploymentId: string | null = null;
  regionId: string | null = null;
  model: string | null = null;
  stream = false;
  dataClass: string | null = null;
  /** The key's organisation keeps prompts and completions for this key. */
  capture = false;
  /** The request as captured (capturedRequest()), when `capture`. */
  capturedRequest: unknown = undefined;
  /** The guardrail verdicts (server/guardrails/apply.ts), when a check ran: they go into the record. */
  verdicts: GuardrailVerdict[] | null = null;
  /** Set once answered: the record is built once. */
  done = false;

  constructor(
    header: string | string[] | undefined,
    /** performance.now() when the request arrived. */
    readonly started: number,
    /** Epoch ms when the request arrived. */
    readonly at: number,
    readonly requestId: string,
    readonly recordId: string,
    readonly method: string,
    readonly endpoint: string,
  ) {
    const parent = header === undefined ? null : parseTraceparent(header);
    this.traceId = parent ? parent.traceId : newTraceId();
    this.parentSpanId = parent ? parent.parentSpanId : null;
    this.sampled = parent ? parent.sampled : true;
    this.spanId = newSpanId();
    this.traceparent = formatTraceparent(this.traceId, this.spanId, this.sampled);
  }

  /** Appends a child of the root span, from `t0` to `t1` (performance.now()). */
  span(name: string, kind: SpanKind, t0: number, t1: number, status: SpanStatus, attributes: Attributes, events?: SpanEvent[]): SpanRecord | null {
    // Late (the request was answered meanwhile): the record is written already.
    if (this.done) return null;
    const span: SpanRecord = { spanId: newSpanId(), parentSpanId: this.spanId, name, kind, startMs: us(t0 - this.started), durationMs: us(t1 - t0), status, attributes };
    if (events) span.events = events;
    this.spans.push(span);
    return span;
  }

  /** An event at performance.now() time `t`, relative to the record's start. */
  event(name: string, t: number): SpanEvent {
    return { name, atMs: us(t - this.started) };
  }

  /** The requested model, clipped and without NUL (it is the client's text). */
  setModel(model: string) {
    this.model = model.length > 200 || model.includes("\u0000") ? model.slice(0, 200).replace(/\u0000/g, "\uFFFD") : model;
  }

  /**
   * The record, with the root span first. `now`, `ttftAt`: performance.now() times (ttftAt 0 when
   * none). The answer's status and error code go on the root span and the record.
   */
  finish(now: number, status: number, errorCode: string | null, ttftAt: number, tokensIn: number, tokensOut: number, costMicroEur: number): TraceRecord {
    this.done = true;
    const rootAttributes: Attributes = { "http.request.method": this.method, "url.path": this.endpoint, "http.response.status_code": status, "enclave.request.id": this.requestId };
    if (errorCode !== null) rootAttributes["error.type"] = errorCode;
    else if (status >= 400) rootAttributes["error.type"] = String(status);
    const root: SpanRecord = {
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      name: "gateway.request",
      kind: "server",
      startMs: 0,
      durationMs: us(now - this.started),
      // As OpenTelemetry asks of server spans: 5xx is an error, 4xx is the client's (unset).
      status: status >= 500 ? "error" : status >= 400 ? "unset" : "ok",
      attributes: rootAttributes,
    };
    const spans = this.spans;
    spans.unshift(root);
    // This object outlives the answer (its response stays referenced while the connection idles):
    // the record's parts go with the record.
    this.spans = NO_SPANS;
    this.capturedRequest = undefined;
    const verdicts = this.verdicts;
    this.verdicts = null;
    const record: TraceRecord = {
      version: 1,
      traceId: this.traceId,
      spanId: this.spanId,
      parentSpanId: this.parentSpanId,
      sampled: this.sampled,
      requestId: this.requestId,
      recordId: this.recordId,
      orgId: this.orgId,
      apiKeyId: this.apiKeyId,
      deploymentId: this.deploymentId,
      regionId: this.regionId,
      model: this.model,
      endpoint: this.endpoint,
      stream: this.stream,
      dataClass: this.dataClass,
      status,
      errorCode,
      startedAt: this.at,
      durationMs: root.durationMs,
      ttftMs: ttftAt > 0 ? us(ttftAt - this.started) : null,
      tokensIn,
      tokensOut,
      costMicroEur,
      spans,
    };
    if (verdicts !== null && verdicts.length > 0) record.verdicts = verdicts;
    return record;
  }
}

/** The JSON of attribute objects shared by many records (per key, route, replica), made once. */
const sharedJson = new WeakMap<Attributes, string>();

/**
 * Marks attributes that many records share (built once per load): their JSON is cached, so a
 * record that uses them costs a lookup rather than their serialisation. They must never change.
 */
export function sharedAttributes<T extends Attributes>(attributes: T): T {
  sharedJson.set(attributes, JSON.stringify(attributes));
  return attributes;
}

const str = JSON.stringify as (s: string) => string;
const strOrNull = (s: string | null) => (s === null ? "null" : str(s));
/** A finite number as JSON (a non-finite one would be null, as JSON.stringify writes it). */
const num = (n: number) => (Number.isFinite(n) ? String(n) : "null");

function eventsJson(events: SpanEvent[]): string {
  let out = "[";
  for (let i = 0; i < events.length; i++) {
    const e = events[i];
    if (i > 0) out += ",";
    out += `{"name":${str(e.name)},"atMs":${num(e.atMs)}${e.attributes ? `,"attributes":${JSON.stringify(e.attributes)}` : ""}}`;
  }
  return `${out}]`;
}

function spanJson(span: SpanRecord): string {
  const a = span.attributes;
  return (
    `{"spanId":${str(span.spanId)},"parentSpanId":${strOrNull(span.parentSpanId)},"name":${str(span.name)},"kind":"${span.kind}",` +
    `"startMs":${num(span.startMs)},"durationMs":${num(span.durationMs)},"status":"${span.status}","attributes":${sharedJson.get(a) ?? JSON.stringify(a)}` +
    `${span.events ? `,"events":${eventsJson(span.events)}` : ""}}`
  );
}

/**
 * The record's JSON without its content (which is stored apart), the same as JSON.stringify would
 * give, written by hand for the hot path: attribute objects shared by many records are taken from
 * their cached JSON (sharedAttributes). Key order follows TraceRecord.
 */
export function serialiseTrace(r: TraceRecord): string {
  let spans = "";
  for (let i = 0; i < r.spans.length; i++) spans += (i > 0 ? "," : "") + spanJson(r.spans[i]);
  return storableJson(
    `{"version":${r.version},"traceId":${str(r.traceId)},"spanId":${str(r.spanId)},"parentSpanId":${strOrNull(r.parentSpanId)},"sampled":${r.sampled},` +
    `"requestId":${str(r.requestId)},"recordId":${str(r.recordId)},"orgId":${str(r.orgId)},"apiKeyId":${strOrNull(r.apiKeyId)},` +
    `"deploymentId":${strOrNull(r.deploymentId)},"regionId":${strOrNull(r.regionId)},"model":${strOrNull(r.model)},"endpoint":${str(r.endpoint)},` +
    `"stream":${r.stream},"dataClass":${strOrNull(r.dataClass)},"status":${num(r.status)},"errorCode":${strOrNull(r.errorCode)},` +
    `"startedAt":${num(r.startedAt)},"durationMs":${num(r.durationMs)},"ttftMs":${r.ttftMs === null ? "null" : num(r.ttftMs)},` +
    `"tokensIn":${num(r.tokensIn)},"tokensOut":${num(r.tokensOut)},"costMicroEur":${num(r.costMicroEur)},"spans":[${spans}]` +
    `${r.verdicts ? `,"verdicts":${JSON.stringify(r.verdicts)}` : ""}}`,
  );
}

/** The error attributes of a span that refused: `error.type` is the answer's code. */
export function errorAttributes(e: GatewayErrorBody): Attributes {
  return { "error.type": e.code ?? e.type };
}

/**
 * The captured request: the parsed body when its JSON is at most CONTENT_REQUEST_MAX_BYTES,
 * otherwise its first bytes as text, marked truncated.
 */
export function capturedRequest(body: Buffer, parsed: unknown): unknown {
  if (body.length <= CONTENT_REQUEST_MAX_BYTES) return parsed;
  return { truncated: true, bytes: body.length, text: body.toString("utf8", 0, CONTENT_REQUEST_MAX_BYTES) };
}

/** A completion clipped to CONTENT_COMPLETION_MAX_CHARS. */
export function clipCompletion(text: string): string {
  return text.length > CONTENT_COMPLETION_MAX_CHARS ? text.slice(0, CONTENT_COMPLETION_MAX_CHARS) : text;
}

/** Serialised content for the spool and the database: NUL (refused by jsonb) becomes U+FFFD. */
export function serialiseContent(content: { request: unknown; completion: string | null }): string {
  const json = JSON.stringify(content);
  return storableJson(json);
}
