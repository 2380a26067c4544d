/**
 * The gateway (data plane): an OpenAI-compatible HTTP server on plain node:http, in its own
 * process, with no Next.js in its path. Per request: authenticate the key from memory, check the
 * organisation, scope, deployment and residency policy, admit against the chunked global limits,
 * proxy to a healthy replica over keep-alive connections (one retry on another replica before the
 * first byte), meter the call into the spool before the client sees its end. See docs/gateway.md.
 */
import { randomBytes } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { StringDecoder } from "node:string_decoder";
import pg from "pg";
import { apiKeyPrefix } from "../services/api-key-secrets";
import { inferenceCostMicroEur, type TokenPrice } from "../services/pricing";
import {
  ERRORS,
  classificationTooHigh,
  expiredKey,
  methodNotAllowed,
  modelNotAllowed,
  modelNotFound,
  modelNotSupported,
  noHealthyReplica,
  organizationSuspended,
  residencyRefused,
  sendError,
  streamErrorEvent,
  unknownUrl,
  upstreamRefused,
  type GatewayErrorBody,
} from "./errors";
import { closeAfterAnswer, guardServer, type EdgeAnswer } from "./edge";
import { Limiter, PgLeaseStore } from "./limits";
import type { TraceCompression } from "./trace-sql";
import { UsageSpool } from "./spool";
import { atMostEvery } from "./log-limit";
import type { Attributes, SpanEvent, TraceRecord } from "./trace";
import { RequestTrace, capturedRequest, clipCompletion, errorAttributes, serialiseContent, sharedAttributes } from "./tracing";
import type { GatewayMetrics } from "./metrics";
import { checkBounds, estimatePromptTokens, jsonTooDeep, validateRequest } from "./validation";
import { replicaAuthorization } from "../../workers/model-server/replica-auth";
import { prepareGuardrails, type GuardrailOptions, type RequestGuardrails } from "../guardrails/apply";
import type { UsageEntry } from "./usage-sql";
import { DATA_CLASS_RANK, GatewayState, secretAccepted, type DataClass, type KeyEntry, type Replica, type Route } from "./state";
import { failoverModelRoute, listedModelRoutes, pickModelRoute, type ModelRoutePick } from "./model-routes";
import { ColdStart, type ColdStartOptions } from "./cold-start";
import { LoadSignal } from "./load-signal";
import { COLD_START } from "../../lib/autoscaling";

export type GatewayLog = (level: "info" | "warn" | "error", message: string, fields?: Record<string, unknown>) => void;

export interface GatewayOptions {
  databaseUrl: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** This process's own spool directory; its siblings are other (possibly dead) gateways'. */
  spoolDir: string;
  /** The one-query poll for organisation, policy and region changes. */
  pollMs?: number;
  /** Full reload of keys and routes, the safety net behind NOTIFY. */
  fullRefreshMs?: number;
  batchMs?: number;
  batchSize?: number;
  /** Where spooled traces are compressed (trace-sql.ts, `deflateTraces`): "worker" by default. */
  traceCompression?: TraceCompression;
  /** Overrides every route's per-token price (by default each route's catalog model's; benchmarks and tests). */
  tokenPrice?: TokenPrice;
  /** Idle time on an upstream connection before the call fails. */
  upstreamTimeoutMs?: number;
  /** A request's line and headers must arrive within this (also cuts connections that never send one). Default 5 s. */
  headersTimeoutMs?: number;
  /** A body's deadline: this much after its headers, plus the time its bytes take at `bodyMinBytesPerSecond`. Default 5 s. */
  bodyTimeoutMs?: number;
  /** The slowest average rate a body may arrive at, past its first `bodyTimeoutMs`. Default 64 KiB/s. */
  bodyMinBytesPerSecond?: number;
  /** An idle keep-alive connection is closed after this. Default 10 s. */
  keepAliveTimeoutMs?: number;
  /** Open connections per client address; beyond, 429 and close. 0: no cap. Default 256. */
  maxConnectionsPerAddress?: number;
  /** Every `invalid_api_key` refusal is answered this long after the request arrived, whatever path it took. Default 20 ms. */
  authFailureDelayMs?: number;
  /**
   * Called synchronously once per answered request (refusals before authentication included, with
   * `orgId` ""), after its record is spooled. Must be cheap and must not keep the record: metrics and
   * the OTLP exporter read it here. A throw is logged and ignored.
   */
  onTrace?: (trace: TraceRecord) => void;
  /** Prometheus metrics (metrics.ts): served at `GET /metrics`, reading the spool, the limiter and its leases. */
  metrics?: GatewayMetrics;
  /** The guardrails' process settings (docs/guardrails.md, "In the gateway"): NER sidecar, judge timeout, stream lookahead. */
  guardrails?: Omit<GuardrailOptions, "deploymentJudge">;
  /** How often this process writes its load signal for the autoscaler (docs/autoscaling.md). Default 1 s. */
  loadSignalMs?: number;
  /** Holding requests to a deployment scaled to zero while a replica starts (cold-start.ts). */
  coldStart?: ColdStartOptions;
  log?: GatewayLog;
}

export interface Gateway {
  /** Loads state, opens the spool (replaying leftovers), listens; resolves with the base URL. */
  listen(): Promise<string>;
  /** Stops accepting, lets calls in flight finish (briefly), flushes usage, returns unused quota. */
  close(): Promise<void>;
  readonly url: string;
  readonly spool: UsageSpool;
  readonly state: GatewayState;
}

const MAX_BODY_BYTES = 8 << 20;
const MAX_RESPONSE_BYTES = 64 << 20;
/** Request line and headers together (Node's parser limit): beyond, 414 or 431. */
const MAX_HEAD_BYTES = 16 << 10;
/** The URL alone: beyond, 414. */
const MAX_URL_BYTES = 8 << 10;
/** A refused request's body is read to its end (keeping the connection) only up to this. */
const DRAIN_MAX_BYTES = 64 << 10;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const EP_CHAT = "/v1/chat/completions";
const EP_COMPLETIONS = "/v1/completions";
const EP_EMBEDDINGS = "/v1/embeddings";
const HEALTH_BODY = Buffer.from('{"status":"ok"}');
const EMPTY = Buffer.alloc(0);
const NOTHING: Record<string, unknown> = Object.freeze({});

type Endpoint = typeof EP_CHAT | typeof EP_COMPLETIONS | typeof EP_EMBEDDINGS;

/** Resolves at `performance.now()` time `t` (at once when it has passed). */
function until(t: number): Promise<void> | void {
  const wait = t - performance.now();
  if (wait > 0) return new Promise((resolve) => setTimeout(resolve, wait));
}

const defaultLog: GatewayLog = (level, message, fields) => {
  const line = JSON.stringify({ time: new Date().toISOString(), level, message, ...fields });
  if (level === "info") process.stdout.write(`${line}\n`);
  else process.stderr.write(`${line}\n`);
};

interface Usage {
  tokensIn: number;
  tokensOut: number;
}

/** Reads usage from an OpenAI response or SSE event object. */
function usageOf(obj: unknown): Usage | null {
  const u = (obj as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } } | null)?.usage;
  if (!u || typeof u.prompt_tokens !== "number") return null;
  return { tokensIn: u.prompt_tokens, tokensOut: typeof u.completion_tokens === "number" ? u.completion_tokens : 0 };
}

/** Incremental SSE reader: finds usage, counts content deltas, notices [DONE] and error events. */
class SseMeter {
  private decoder = new StringDecoder("utf8");
  private partial = "";
  done = false;
  upstreamError = false;
  usage: Usage | null = null;
  contentEvents = 0;
  firstTokenAt = 0;
  /** The streamed text, kept only when the key captures content (docs/traces.md). */
  text: string | null = null;
  /** A guarded stream's last chunk id, time and model, for the chunks the gateway adds. */
  chunkId = "";
  chunkCreated = 0;
  chunkModel = "";
  /** A guarded stream's usage chunk (`stream_options.include_usage`), held so that it stays the last chunk, after the verdict event. */
  heldUsage = "";

  /** Returns true when this chunk carries the final `[DONE]`. */
  push(chunk: Buffer, now: number): boolean {
    const text = this.partial + this.decoder.write(chunk);
    const last = text.lastIndexOf("\n");
    if (last === -1) {
      this.partial = text;
      return false;
    }
    this.partial = text.slice(last + 1);
    let doneHere = false;
    let start = 0;
    while (start <= last) {
      let end = text.indexOf("\n", start);
      if (end === -1 || end > last) end = last;
      if (text.startsWith("data:", start)) {
        const payload = text.slice(start + 5, end).trim();
        if (payload === "[DONE]") {
          this.done = true;
          doneHere = true;
        } else if (payload) this.event(payload, now);
      }
      start = end + 1;
    }
    return doneHere;
  }

  private event(payload: string, now: number) {
    let obj: { error?: unknown; choices?: { delta?: { content?: unknown }; text?: unknown }[] };
    try {
      obj = JSON.parse(payload);
    } catch {
      return;
    }
    if (obj.error) this.upstreamError = true;
    const usage = usageOf(obj);
    if (usage) this.usage = usage;
    const choice = obj.choices?.[0];
    if (choice) {
      const content = choice.delta?.content ?? choice.text;
      if (typeof content === "string" && content.length > 0) {
        this.contentEvents++;
        if (this.firstTokenAt === 0) this.firstTokenAt = now;
        if (this.text !== null && this.text.length < CONTENT_TEXT_MAX) this.text += content;
      }
    }
  }

  get hasPartialEvent() {
    return this.partial.length > 0;
  }

  /**
   * A guarded stream (output guardrails): the same reading, but each content delta goes through
   * the request's guardrails (redaction with a bounded lookahead, or block) and the bytes to send
   * are returned, up to and without the upstream's `[DONE]` (the gateway sends its verdict event
   * first). `blocked`: a delta was refused; nothing of it was sent. The first token is the first
   * content sent to the client (what the lookahead costs shows there).
   */
  pushGuarded(chunk: Buffer, now: number, guard: RequestGuardrails): { out: string; done: boolean; blocked: boolean } {
    const text = this.partial + this.decoder.write(chunk);
    const last = text.lastIndexOf("\n");
    if (last === -1) {
      this.partial = text;
      return { out: "", done: false, blocked: false };
    }
    this.partial = text.slice(last + 1);
    let out = "";
    let start = 0;
    while (start <= last) {
      let end = text.indexOf("\n", start);
      if (end === -1 || end > last) end = last;
      if (text.startsWith("data:", start)) {
        const payload = text.slice(start + 5, end).trim();
        if (payload === "[DONE]") {
          this.done = true;
          this.partial = "";
          return { out, done: true, blocked: false };
        }
        const rewritten = payload ? this.guardedEvent(payload, now, guard) : null;
        if (rewritten === BLOCKED) return { out, done: false, blocked: true };
        if (rewritten === HELD) this.heldUsage += `data: ${payload}\n\n`;
        else out += rewritten === null ? text.slice(start, end + 1) : `data: ${rewritten}\n`;
      } else out += text.slice(start, end + 1);
      start = end + 1;
    }
    return { out, done: false, blocked: false };
  }

  /** One event of a guarded stream: its new JSON when a delta changed, null when it goes as received. */
  private guardedEvent(payload: string, now: number, guard: RequestGuardrails): string | null | typeof BLOCKED | typeof HELD {
    let obj: { error?: unknown; id?: unknown; created?: unknown; model?: unknown; choices?: StreamChoiceJson[] };
    try {
      obj = JSON.parse(payload);
    } catch {
      return null;
    }
    if (obj === null || typeof obj !== "object") return null;
    if (obj.error) {
      this.upstreamError = true;
      return null;
    }
    const usage = usageOf(obj);
    if (usage) this.usage = usage;
    if (typeof obj.id === "string") this.chunkId = obj.id;
    if (typeof obj.created === "number") this.chunkCreated = obj.created;
    if (typeof obj.model === "string") this.chunkModel = obj.model;
    const choices = obj.choices;
    if (!Array.isArray(choices)) return null;
    if (usage && choices.length === 0) return HELD;
    let changed = false;
    for (const choice of choices) {
      if (!choice || typeof choice !== "object") continue;
      const index = typeof choice.index === "number" ? choice.index : 0;
      const chat = choice.delta !== undefined && choice.delta !== null;
      const content = chat ? choice.delta!.content : choice.text;
      const finish = typeof choice.finish_reason === "string" ? choice.finish_reason : null;
      let sent: string | null;
      if (typeof content === "string" && content.length > 0) {
        this.contentEvents++;
        sent = guard.streamDelta(index, content, finish);
      } else if (finish !== null) sent = guard.streamFinish(index, finish);
      else continue;
      if (sent === null) return BLOCKED;
      if (sent !== content && !(sent === "" && typeof content !== "string")) {
        if (chat) choice.delta = { ...choice.delta, content: sent };
        else choice.text = sent;
        changed = true;
      }
      if (sent.length > 0) {
        if (this.firstTokenAt === 0) this.firstTokenAt = now;
        if (index === 0 && this.text !== null && this.text.length < CONTENT_TEXT_MAX) this.text += sent;
      }
    }
    return changed ? JSON.stringify(obj) : null;
  }

  /** A chunk carrying text the gateway held back (released when the upstream ended without a finish_reason). */
  contentEvent(index: number, content: string, chat: boolean): Buffer {
    if (this.text !== null && index === 0 && this.text.length < CONTENT_TEXT_MAX) this.text += content;
    const choice = chat ? { index, delta: { content }, logprobs: null, finish_reason: null } : { index, text: content, logprobs: null, finish_reason: null };
    const payload = { id: this.chunkId, object: chat ? "chat.completion.chunk" : "text_completion", created: this.chunkCreated, model: this.chunkModel, choices: [choice] };
    return Buffer.from(`data: ${JSON.stringify(payload)}\n\n`);
  }
}

interface StreamChoiceJson {
  index?: unknown;
  delta?: { content?: unknown } | null;
  text?: unknown;
  finish_reason?: unknown;
}

const BLOCKED = Symbol("blocked");
const HELD = Symbol("held");

/** The response's trace, also found by the edge (edge.ts) for the answers it gives. */
const TRACE = Symbol("enclave.trace");
type TracedResponse = ServerResponse & { [TRACE]?: RequestTrace };
/** The exchange of an upstream request, for its socket listeners (no closure per attempt). */
const EXCHANGE = Symbol("enclave.exchange");
type UpstreamRequest = http.ClientRequest & { [EXCHANGE]?: Exchange };
type UpstreamSocket = import("node:net").Socket & { [EXCHANGE]?: UpstreamRequest };
const CONTENT_TEXT_MAX = 64 << 10;

function onUpstreamConnect(this: UpstreamSocket) {
  const upstream = this[EXCHANGE];
  this[EXCHANGE] = undefined;
  const x = upstream?.[EXCHANGE];
  if (x && x.upstream === upstream) x.connectedAt = performance.now();
}

/** When the attempt has its connection: at once for a kept-alive one, else when it connects. */
function onUpstreamSocket(this: UpstreamRequest, socket: UpstreamSocket) {
  const x = this[EXCHANGE];
  if (!x || x.upstream !== this) return;
  if (socket.connecting) {
    socket[EXCHANGE] = this;
    socket.once("connect", onUpstreamConnect);
  } else {
    x.connectedAt = performance.now();
    x.reusedConnection = true;
  }
}

/** One client request, from arrival to its usage record. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  t: RequestTrace;
  /** performance.now() when the current attempt's upstream request started; 0 once its span is written. */
  upstreamAt: number;
  connectedAt: number;
  reusedConnection: boolean;
  upstreamStatus: number;
  /** The completion's text, for keys that capture content. */
  completion: string | null;
  path: string;
  requestId: string;
  recordId: string;
  started: number;
  at: number;
  entry: KeyEntry;
  route: Route;
  /** The route (docs/routes.md) that chose `route` when the call named one: where failover may go. */
  routed: ModelRoutePick | null;
  body: Buffer;
  parsed: Record<string, unknown>;
  attempt: number;
  replica: Replica | null;
  upstream: http.ClientRequest | null;
  firstByteAt: number;
  /** Set once a streamed answer started: what a client hanging up mid-stream has used. */
  meter: SseMeter | null;
  /** The request's guardrails, when a check applies (server/guardrails/apply.ts). */
  guard: RequestGuardrails | null;
  recorded: boolean;
  finished: boolean;
}

export function createGateway(options: GatewayOptions): Gateway {
  const log = options.log ?? defaultLog;
  const pool = new pg.Pool({
    connectionString: options.databaseUrl,
    max: 4,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 2_000,
    query_timeout: 10_000,
    statement_timeout: 10_000,
    keepAlive: true,
    application_name: "enclave-gateway",
    options: "-c TimeZone=UTC",
  });
  // An idle connection dropped by a database restart must not take the gateway down.
  pool.on("error", (error) => log("warn", "gateway database connection lost", { error: String(error) }));
  // Nor one that is checked out: pg's Client emits "error" (as well as failing its query) when its
  // socket breaks mid-query, and the pool listens only to idle clients — an unhandled "error" event
  // killed the gateway when PostgreSQL stopped during a batch (tests/integration/gateway-database-restart).
  // The query's own rejection is what callers act on; this only keeps the event handled.
  pool.on("connect", (client) => client.on("error", () => {}));

  const state = new GatewayState(pool, {
    databaseUrl: options.databaseUrl,
    pollMs: options.pollMs ?? 1000,
    fullRefreshMs: options.fullRefreshMs ?? 15_000,
    tokenPrice: options.tokenPrice,
    log,
  });
  const leaseStore = new PgLeaseStore(pool);
  const limiter = new Limiter(options.metrics ? options.metrics.observeLeases(leaseStore) : leaseStore, log);
  state.onKeyReloaded = (entry) => limiter.reconfigure(entry);
  state.onOrgBudgetChanged = (orgId, org) => limiter.reconfigureOrg(orgId, org);
  const spool = new UsageSpool({ dir: options.spoolDir, pool, batchMs: options.batchMs ?? 200, batchSize: options.batchSize ?? 500, traceCompression: options.traceCompression, log });
  // Autoscaling (docs/autoscaling.md): the load signal the workers scale on, and the hold at zero replicas.
  const load = new LoadSignal(pool, { intervalMs: options.loadSignalMs ?? 1000, log });
  const coldStart = new ColdStart(pool, state, load, log, options.coldStart);
  const wakeable = (route: Route) => coldStart.holds(route);
  options.metrics?.attach({ spool, limiter });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 512, scheduling: "lifo" });
  const upstreamTimeoutMs = options.upstreamTimeoutMs ?? 300_000;
  const headersTimeoutMs = options.headersTimeoutMs ?? 5000;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 5000;
  const bodyMinRate = options.bodyMinBytesPerSecond ?? 64 << 10;
  const keepAliveTimeoutMs = options.keepAliveTimeoutMs ?? 10_000;
  const authFailureDelayMs = options.authFailureDelayMs ?? 20;
  const guardrailOptions: GuardrailOptions = { ...options.guardrails, deploymentJudge: callJudgeDeployment };

  // Request ids unique across processes and restarts without a syscall per request.
  const idPrefix = `req_${Date.now().toString(36)}${randomBytes(5).toString("hex")}_`;
  let idCounter = 0;
  let inFlight = 0;
  let closing = false;
  let url = "";
  let cleanupTimer: NodeJS.Timeout | null = null;
  const started = { state: false, spool: false };
  const onTrace = options.onTrace;
  const traceErrorDue = atMostEvery(10_000);

  // ---- traces ----

  /** Hands a finished record to the listener (metrics, OTLP); never lets it break the request. */
  function emit(trace: TraceRecord) {
    if (!onTrace) return;
    try {
      onTrace(trace);
    } catch (error) {
      if (traceErrorDue()) {
        log("error", "gateway onTrace listener failed", { error: String(error) });
      }
    }
  }

  function contentOf(t: RequestTrace, completion: string | null): { request: unknown; completion: string | null } | null {
    return t.capture ? { request: t.capturedRequest ?? null, completion: completion === null ? null : clipCompletion(completion) } : null;
  }

  /**
   * A request answered without a usage record (a refusal, the model list, health): its trace is
   * spooled when the organisation is known (authenticated), and handed to onTrace in any case.
   */
  function answered(t: RequestTrace, status: number, errorCode: string | null, usage: UsageEntry | null = null) {
    if (t.done) return;
    const content = contentOf(t, null);
    const trace = t.finish(performance.now(), status, errorCode, 0, 0, 0, 0);
    if (t.orgId !== "") spool.append(usage, trace, content ? serialiseContent(content) : null);
    if (content) trace.content = content;
    emit(trace);
  }

  function newTrace(res: ServerResponse | null, method: string, path: string): RequestTrace {
    const id = idPrefix + (++idCounter).toString(36);
    const t = new RequestTrace(undefined, performance.now(), Date.now(), id, id, method, path);
    if (res) (res as TracedResponse)[TRACE] = t;
    return t;
  }

  /** For the edge (edge.ts): the trace of the request it answers, or a new one. */
  function edgeAnswer(res: ServerResponse | null): EdgeAnswer {
    let t = res ? (res as TracedResponse)[TRACE] : undefined;
    if (!t || t.done) t = newTrace(null, res?.req?.method ?? "", "");
    const trace = t;
    return { requestId: trace.requestId, traceparent: trace.traceparent, answered: (e) => answered(trace, e.status, e.code) };
  }

  /** Limit kinds as the trace names them. */
  const LIMIT_NAMES = { requests: "requests_per_minute", tokens: "tokens_per_minute", budget: "key_budget", org_budget: "org_budget" } as const;
  const NO_LIMITS: Attributes = sharedAttributes({ "enclave.limits.checked": [] });

  /** The `limits` span's attributes: what was checked, what this process's balances hold now, what refused. */
  function limitsAttributes(entry: KeyEntry, orgBudget: boolean, refusal: GatewayErrorBody | null): Attributes {
    if (!orgBudget && entry.rateLimitRpm === null && entry.rateLimitTpm === null && entry.monthlyBudgetCents === null) return NO_LIMITS;
    const checked: string[] = [];
    const a: Attributes = { "enclave.limits.checked": checked };
    const add = (kind: keyof typeof LIMIT_NAMES, id: string) => {
      checked.push(LIMIT_NAMES[kind]);
      const balance = limiter.balance(id, kind);
      if (balance !== null) a[`enclave.limits.remaining.${LIMIT_NAMES[kind]}`] = balance;
    };
    if (orgBudget) add("org_budget", entry.orgId);
    if (entry.monthlyBudgetCents !== null) add("budget", entry.id);
    if (entry.rateLimitTpm !== null) add("tokens", entry.id);
    if (entry.rateLimitRpm !== null) add("requests", entry.id);
    if (refusal) {
      a["enclave.limits.refused"] =
        refusal.type === "requests"
          ? LIMIT_NAMES.requests
          : refusal.type === "tokens"
            ? LIMIT_NAMES.tokens
            : refusal.code === "organization_budget_exceeded"
              ? LIMIT_NAMES.org_budget
              : refusal.code === "insufficient_quota"
                ? LIMIT_NAMES.budget
                : (refusal.code ?? refusal.type);
    }
    return a;
  }

  /** Closes the current attempt's `upstream` span (once). */
  function upstreamSpan(x: Exchange, now: number, status: "ok" | "error", errorType: string | null, tokensOut: number, firstTokenAt: number) {
    const t0 = x.upstreamAt;
    if (t0 === 0) return;
    x.upstreamAt = 0;
    const replica = x.replica;
    const attributes: Attributes = { "server.address": replica?.host ?? "", "server.port": replica?.port ?? 0, "enclave.upstream.reused_connection": x.reusedConnection };
    if (x.upstreamStatus > 0) attributes["enclave.upstream.status"] = x.upstreamStatus;
    if (errorType !== null) attributes["error.type"] = errorType;
    const events: SpanEvent[] = [];
    if (x.connectedAt > 0) events.push(x.t.event("connected", x.connectedAt));
    if (x.firstByteAt > 0) events.push(x.t.event("first_byte", x.firstByteAt));
    if (firstTokenAt > 0) events.push(x.t.event("first_token", firstTokenAt));
    if (x.firstByteAt > 0) {
      attributes["gen_ai.usage.output_tokens"] = tokensOut;
      // Streams: the decoding rate after the first token; otherwise over the whole call.
      const decoding = firstTokenAt > 0 && x.meter !== null && tokensOut > 1 && now > firstTokenAt;
      const seconds = (decoding ? now - firstTokenAt : now - t0) / 1000;
      const perSecond = seconds > 0 ? (decoding ? tokensOut - 1 : tokensOut) / seconds : 0;
      attributes["enclave.upstream.output_tokens_per_second"] = Math.round(perSecond * 100) / 100;
    }
    x.t.span("upstream", "client", t0, now, status, attributes, events);
  }

  // ---- authentication ----

  function checkKey(key: string, entry: KeyEntry, now: number): KeyEntry | GatewayErrorBody {
    if (!secretAccepted(key, entry, now)) return ERRORS.invalidKey;
    if (entry.revoked) return ERRORS.revokedKey;
    if (entry.expiresAt <= now) return expiredKey(entry.expiresAt);
    return entry;
  }

  function authenticate(header: string | undefined, now: number): KeyEntry | GatewayErrorBody | Promise<KeyEntry | GatewayErrorBody> {
    if (!header) return ERRORS.missingKey;
    if (header.length < 8 || header.slice(0, 7).toLowerCase() !== "bearer ") return ERRORS.missingKey;
    const key = header.slice(7).trim();
    const prefix = apiKeyPrefix(key);
    if (!prefix) return ERRORS.invalidKey;
    const entry = state.keysByPrefix.get(prefix);
    if (entry) return checkKey(key, entry, now);
    const lookup = state.lookupPrefix(prefix);
    if (!lookup) return ERRORS.invalidKey;
    return lookup.then((found) => (found ? checkKey(key, found, Date.now()) : ERRORS.invalidKey));
  }

  const isError = (x: unknown): x is GatewayErrorBody => (x as GatewayErrorBody).status !== undefined;

  // ---- routing ----

  function listed(route: Route) {
    return route.desiredState === "RUNNING" && (route.phase === "RUNNING" || route.phase === "DEGRADED" || (route.phase === "PROVISIONING" && route.replicas.length > 0) || coldStart.holds(route));
  }

  /** Least in-flight among healthy replicas, round robin between equals; a failed one is skipped for a while. */
  function pickReplica(route: Route, exclude: Replica | null, now: number): Replica | null {
    const list = route.replicas;
    const n = list.length;
    if (n === 0) return null;
    const start = route.cursor++ % n;
    let best: Replica | null = null;
    for (let i = 0; i < n; i++) {
      const r = list[(start + i) % n];
      if ((r === exclude && n > 1) || r.unhealthyUntil > now) continue;
      if (!best || r.inFlight < best.inFlight) best = r;
    }
    if (best) return best;
    // Every replica failed recently: try the one whose mark ends first rather than refusing.
    for (const r of list) if ((r !== exclude || n === 1) && (!best || r.unhealthyUntil < best.unhealthyUntil)) best = r;
    return best;
  }

  function markUnhealthy(r: Replica, now: number) {
    r.failures++;
    r.unhealthyUntil = now + Math.min(30_000, 1000 * 2 ** Math.min(r.failures - 1, 5));
  }

  function releaseReplica(x: Exchange) {
    if (x.replica) {
      x.replica.inFlight--;
      x.replica = null;
    }
  }

  // ---- metering ----

  /**
   * Appends the call's usage record (once). Without upstream usage, tokens are estimated only for
   * calls the model worked on: answered, broken mid-stream, or abandoned by the client after the
   * model started answering; a refused or unreachable call costs nothing.
   */
  function record(x: Exchange, status: number, usage: Usage | null, ttftAt: number, estimateOut: number, modelWorked = true, errorCode: string | null = null) {
    if (x.recorded) return;
    x.recorded = true;
    const now = performance.now();
    const worked = modelWorked && x.firstByteAt > 0 && (status < 400 || status === 499 || status === 502);
    const tokensIn = usage ? usage.tokensIn : worked ? estimatePromptTokens(x.parsed) : 0;
    const tokensOut = usage ? usage.tokensOut : estimateOut;
    const cost = inferenceCostMicroEur(tokensIn, tokensOut, x.route.tokenPrice);
    const failed = status >= 400;
    upstreamSpan(x, now, failed ? "error" : "ok", failed ? (errorCode ?? (status === 499 ? "client_closed" : String(status))) : null, tokensOut, x.meter ? x.meter.firstTokenAt : x.firstByteAt);
    const content = contentOf(x.t, x.meter ? x.meter.text : x.completion);
    const trace = x.t.finish(now, status, errorCode, ttftAt, tokensIn, tokensOut, cost);
    const metered: UsageEntry = {
      requestId: x.recordId,
      orgId: x.route.orgId,
      apiKeyId: x.entry.id,
      deploymentId: x.route.id,
      endpoint: x.path,
      tokensIn,
      tokensOut,
      latencyMs: Math.round((now - x.started) * 1000) / 1000,
      ttftMs: ttftAt > 0 ? Math.round((ttftAt - x.started) * 1000) / 1000 : null,
      status,
      costMicroEur: cost,
      at: x.at,
      stream: x.meter !== null,
    };
    if (x.guard !== null && x.guard.codes.length > 0) metered.guardrails = x.guard.codes;
    // One line, one write: the usage record and its trace travel together.
    spool.append(metered, trace, content ? serialiseContent(content) : null);
    if (content) trace.content = content;
    limiter.settle(x.entry, tokensIn + tokensOut, cost, Date.now());
    emit(trace);
  }

  function finish(x: Exchange) {
    if (x.finished) return;
    x.finished = true;
    // The response (and this exchange, through its listeners) outlives the call while its
    // connection idles (edge.ts remembers the latest): not the request's body.
    x.body = EMPTY;
    x.parsed = NOTHING;
    releaseReplica(x);
    load.end(x);
    inFlight--;
  }

  function failExchange(x: Exchange, e: GatewayErrorBody, modelWorked = true) {
    record(x, e.status, null, 0, 0, modelWorked, e.code);
    sendError(x.res, x.requestId, e, x.t.traceparent);
    finish(x);
  }

  /**
   * Whether an answer written now can still reach the client: its connection is neither closed
   * nor ended (a client that half-closed, or whose connection broke after a request was parsed).
   * An answer that cannot is metered 499, never 200.
   */
  function reachable(x: Exchange) {
    const socket = x.req.socket;
    return !x.res.destroyed && !socket.destroyed && !socket.writableEnded;
  }

  // ---- proxying ----

  function forward(x: Exchange, exclude: Replica | null) {
    const now = performance.now();
    const replica = pickReplica(x.route, exclude, now);
    const picked = performance.now();
    if (!replica) {
      x.t.span("route", "internal", now, picked, "error", { "enclave.deployment.id": x.route.id, "enclave.route.attempt": x.attempt + 1, "error.type": "no_healthy_replica" });
      return failExchange(x, noHealthyReplica(x.route.name, x.route.phase));
    }
    x.t.span("route", "internal", now, picked, "ok", x.attempt === 0 ? replica.traceAttributes : { ...replica.traceAttributes, "enclave.route.attempt": x.attempt + 1 });
    x.replica = replica;
    replica.inFlight++;
    x.upstreamAt = picked;
    x.connectedAt = 0;
    x.reusedConnection = false;
    x.upstreamStatus = 0;
    const upstream = http.request({
      agent,
      host: replica.host,
      port: replica.port,
      method: "POST",
      path: x.path,
      timeout: upstreamTimeoutMs,
      // The replica's own bearer token: model servers refuse calls without it (replica-auth.ts).
      headers: { "content-type": "application/json", "content-length": x.body.length, "x-request-id": x.requestId, authorization: replicaAuthorization(x.route.id, replica.id) },
    });
    x.upstream = upstream;
    (upstream as UpstreamRequest)[EXCHANGE] = x;
    upstream.on("socket", onUpstreamSocket);
    upstream.on("response", (ures) => onResponse(x, upstream, ures));
    upstream.on("error", (error) => onUpstreamError(x, upstream, error as NodeJS.ErrnoException));
    upstream.on("timeout", () => upstream.destroy(Object.assign(new Error("upstream timeout"), { code: "ETIMEDOUT" })));
    upstream.end(x.body);
  }

  function retryable(x: Exchange, failed: Replica, reusedSocket: boolean) {
    if (x.attempt > 0 || x.res.destroyed) return false;
    // Another replica, or the same one when the failure was a stale keep-alive socket.
    return x.route.replicas.some((r) => r !== failed) || reusedSocket;
  }

  /** Moves a route's call to its next compliant member (model-routes.ts), or refuses it with every member's reason. */
  function switchMember(x: Exchange) {
    const next = failoverModelRoute(state, x.t, x.entry, x.routed!, x.route, x.attempt + 2);
    if (isError(next)) return failExchange(x, next);
    x.route = next;
    x.parsed.model = next.name;
    x.body = Buffer.from(JSON.stringify(x.parsed));
    x.t.deploymentId = next.id;
    x.t.regionId = next.region.id;
    x.attempt++;
    forward(x, null);
  }

  function onUpstreamError(x: Exchange, upstream: http.ClientRequest, error: NodeJS.ErrnoException) {
    if (x.upstream !== upstream || x.firstByteAt > 0 || x.finished) return;
    const failed = x.replica!;
    const now = performance.now();
    const staleSocket = upstream.reusedSocket && (error.code === "ECONNRESET" || error.code === "EPIPE");
    const timedOut = error.code === "ETIMEDOUT";
    if (!staleSocket) markUnhealthy(failed, now);
    upstreamSpan(x, now, "error", error.code ?? "upstream_error", 0, 0);
    releaseReplica(x);
    // A replica that stayed silent for the whole timeout is not retried: the caller has waited enough.
    if (!timedOut && retryable(x, failed, staleSocket)) {
      x.attempt++;
      return forward(x, staleSocket && x.route.replicas.length === 1 ? null : failed);
    }
    // A route's member failed before any byte: the next compliant member, never another region (docs/routes.md).
    if (x.routed !== null && !timedOut && !x.res.destroyed) return switchMember(x);
    log("warn", "gateway upstream call failed", { requestId: x.requestId, deploymentId: x.route.id, replicaId: failed.id, error: error.code ?? error.message });
    failExchange(x, timedOut ? ERRORS.upstreamTimeout : ERRORS.upstreamFailed);
  }

  function onResponse(x: Exchange, upstream: http.ClientRequest, ures: IncomingMessage) {
    if (x.upstream !== upstream || x.finished) {
      ures.resume();
      return;
    }
    const status = ures.statusCode ?? 502;
    const replica = x.replica!;
    const now = performance.now();
    x.upstreamStatus = status;
    const failover = status >= 500 && x.routed !== null && !x.res.destroyed && !retryable(x, replica, false);
    if (status >= 500 && (failover || retryable(x, replica, false))) {
      // A 5xx before anything reached the client: once more, on another replica (or a route's next compliant member).
      ures.resume();
      upstreamSpan(x, now, "error", String(status), 0, 0);
      if (status === 502 || status === 503 || status === 504) markUnhealthy(replica, now);
      releaseReplica(x);
      if (failover) return switchMember(x);
      x.attempt++;
      return forward(x, replica);
    }
    x.firstByteAt = now;
    if (status < 500 && replica.failures > 0) {
      replica.failures = 0;
      replica.unhealthyUntil = 0;
    }
    ures.on("error", () => {});
    const contentType = ures.headers["content-type"] ?? "application/json";
    if (contentType.startsWith("text/event-stream")) streamResponse(x, ures, status, contentType);
    else bufferResponse(x, ures, status, contentType);
  }

  /** Sends a whole answer (after its output guardrails, when any): metered first, then written in one go. */
  function deliverAnswer(x: Exchange, status: number, contentType: string, body: Buffer, answer: { choices?: { message?: { content?: unknown }; text?: unknown }[] } | null, usage: Usage | null, estimateOut: number) {
    if (x.t.capture && answer) {
      const text = answer.choices?.[0]?.message?.content ?? answer.choices?.[0]?.text;
      if (typeof text === "string") x.completion = text;
    }
    if (!reachable(x)) {
      // The client cannot receive it: metered as the hang-up it is.
      record(x, 499, usage, x.firstByteAt, estimateOut);
      return finish(x);
    }
    // The record is in the spool before the client can see the end of its response.
    record(x, status, usage, x.firstByteAt, estimateOut);
    const headers: (string | number)[] = ["content-type", contentType, "content-length", body.length, "x-request-id", x.requestId, "traceparent", x.t.traceparent];
    if (x.guard !== null && x.guard.verdicts.length > 0) headers.push("x-enclave-guardrails", x.guard.summary());
    x.res.writeHead(status, headers as unknown as string[]);
    x.res.end(body);
    finish(x);
  }

  function bufferResponse(x: Exchange, ures: IncomingMessage, status: number, contentType: string) {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    ures.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_RESPONSE_BYTES) {
        done = true;
        ures.destroy();
        return failExchange(x, ERRORS.upstreamFailed);
      }
      chunks.push(chunk);
    });
    ures.on("end", () => {
      if (done || x.finished) return;
      done = true;
      let body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      // A replica's refusal or failure: the model produced nothing to bill.
      if (status >= 400) return failExchange(x, replicaError(x, status, body), false);
      let usage: Usage | null = null;
      let estimateOut = 0;
      type Answer = { choices?: { message?: { content?: unknown }; text?: unknown }[] } | null;
      let answer: Answer = null;
      try {
        const parsedAnswer = JSON.parse(body.toString("utf8")) as Answer;
        answer = parsedAnswer;
        usage = usageOf(parsedAnswer);
        const text = parsedAnswer?.choices?.[0]?.message?.content ?? parsedAnswer?.choices?.[0]?.text;
        if (!usage) estimateOut = typeof text === "string" ? Math.ceil(text.length / 4) : 0;
      } catch {
        // Not JSON: relayed as is, metered without tokens.
      }
      const guard = x.guard;
      if (guard !== null && guard.checksOutput && answer !== null && typeof answer === "object") {
        // The model's part ends here; the output checks' spans follow it.
        upstreamSpan(x, performance.now(), "ok", null, usage ? usage.tokensOut : estimateOut, x.firstByteAt);
        guard
          .checkAnswer(answer)
          .then(
            (result) => {
              if (x.finished) return;
              if (result.blocked) {
                // The model worked: the call is billed, the answer withheld.
                record(x, result.blocked.status, usage, x.firstByteAt, estimateOut, true, result.blocked.code);
                if (reachable(x)) {
                  x.res.setHeader("x-enclave-guardrails", guard.summary());
                  sendError(x.res, x.requestId, result.blocked, x.t.traceparent);
                }
                return finish(x);
              }
              if (result.changed) body = Buffer.from(JSON.stringify(answer));
              deliverAnswer(x, status, contentType, body, answer, usage, estimateOut);
            },
            (error: unknown) => {
              log("error", "gateway output guardrails failed", { requestId: x.requestId, error: error instanceof Error ? error.message : String(error) });
              if (x.finished) return;
              record(x, 500, usage, x.firstByteAt, estimateOut, true, ERRORS.internal.code);
              sendError(x.res, x.requestId, ERRORS.internal, x.t.traceparent);
              finish(x);
            },
          );
        return;
      }
      deliverAnswer(x, status, contentType, body, answer, usage, estimateOut);
    });
    ures.on("close", () => {
      if (done || x.finished) return;
      done = true;
      // The upstream connection broke in the middle of the body: nothing was sent to the client yet.
      if (x.replica) markUnhealthy(x.replica, performance.now());
      failExchange(x, ERRORS.upstreamFailed);
    });
  }

  /**
   * A replica's error answer, never relayed as is (its text may name its internals): no route
   * (404) is the deployment not serving the endpoint (the model itself was checked against the
   * route table); its own auth and server failures are the gateway's 502 (or 503/504); other 4xx
   * keep their status, with the replica's message only when it answered in OpenAI's shape.
   */
  function replicaError(x: Exchange, status: number, body: Buffer): GatewayErrorBody {
    if (status === 404) return modelNotSupported(x.route.name, x.path);
    if (status === 503) return noHealthyReplica(x.route.name, x.route.phase);
    if (status === 504) return ERRORS.upstreamTimeout;
    if (status === 429) return ERRORS.upstreamBusy;
    if (status === 413) return ERRORS.bodyTooLarge;
    if (status >= 500 || status === 401 || status === 403 || status === 407) return ERRORS.upstreamFailed;
    return upstreamRefused(status, body);
  }

  function streamResponse(x: Exchange, ures: IncomingMessage, status: number, contentType: string) {
    if (x.guard !== null && x.guard.checksOutput) return streamGuarded(x, x.guard, ures, status, contentType);
    const res = x.res;
    const meter = (x.meter = new SseMeter());
    if (x.t.capture) meter.text = "";
    let ended = false;
    res.writeHead(status, ["content-type", contentType, "cache-control", "no-cache", "x-request-id", x.requestId, "traceparent", x.t.traceparent] as unknown as string[]);
    const recordStream = (finalStatus: number, errorCode: string | null = null) =>
      record(x, reachable(x) ? finalStatus : 499, meter.usage, meter.firstTokenAt || x.firstByteAt, meter.usage ? 0 : meter.contentEvents, true, errorCode);
    ures.on("data", (chunk: Buffer) => {
      // The record goes to the spool before the client receives the final [DONE].
      if (meter.push(chunk, performance.now())) recordStream(meter.upstreamError ? 502 : status, meter.upstreamError ? "upstream_error" : null);
      if (!res.write(chunk)) {
        ures.pause();
        res.once("drain", () => ures.resume());
      }
    });
    const broken = () => {
      if (ended || x.finished) return;
      ended = true;
      if (!meter.done && !meter.upstreamError) {
        // Never a silent clean end: the client sees an error event, then the stream closes.
        recordStream(502, "stream_interrupted");
        if (meter.hasPartialEvent) res.write("\n\n");
        res.write(streamErrorEvent("The model server closed the stream before it finished. The response is incomplete.", "stream_interrupted"));
        log("warn", "gateway stream broke after it started", { requestId: x.requestId, deploymentId: x.route.id, replicaId: x.replica?.id });
      } else {
        recordStream(meter.upstreamError ? 502 : status, meter.upstreamError ? "upstream_error" : null);
      }
      res.end();
      finish(x);
    };
    ures.on("end", broken);
    ures.on("close", () => {
      if (!ures.complete && x.replica) markUnhealthy(x.replica, performance.now());
      broken();
    });
  }

  /**
   * A stream with output guardrails (docs/guardrails.md, "Streams"): every delta passes through
   * the request's guardrails (redacted with a bounded lookahead, or the stream ends with an error
   * event when personal data is blocked); when the upstream sends `[DONE]`, the checks on the
   * accumulated text run, the call is metered, and the client gets the verdict event (or the error
   * event of a block) before the gateway's own `[DONE]`.
   */
  function streamGuarded(x: Exchange, guard: RequestGuardrails, ures: IncomingMessage, status: number, contentType: string) {
    const res = x.res;
    const meter = (x.meter = new SseMeter());
    if (x.t.capture) meter.text = "";
    const chat = x.path === EP_CHAT;
    let ended = false;
    let finishing = false;
    // The last characters sent: whether an event the gateway adds starts on an event boundary.
    let tail = "\n\n";
    res.writeHead(status, ["content-type", contentType, "cache-control", "no-cache", "x-request-id", x.requestId, "traceparent", x.t.traceparent] as unknown as string[]);
    const recordStream = (finalStatus: number, errorCode: string | null = null) =>
      record(x, reachable(x) ? finalStatus : 499, meter.usage, meter.firstTokenAt || x.firstByteAt, meter.usage ? 0 : meter.contentEvents, true, errorCode);
    const write = (data: string | Buffer) => {
      if (data.length === 0 || res.writableEnded) return;
      tail = (tail + (typeof data === "string" ? data.slice(-4) : data.toString("latin1", Math.max(0, data.length - 4)))).slice(-4);
      if (!res.write(data)) {
        ures.pause();
        res.once("drain", () => ures.resume());
      }
    };
    const boundary = () => {
      if (!tail.endsWith("\n\n") && !tail.endsWith("\r\n\r\n")) write(tail.endsWith("\n") ? "\n" : "\n\n");
    };
    const block = (e: GatewayErrorBody) => {
      ended = true;
      // Stop the generation: nothing more of it may reach the client.
      x.upstream?.destroy();
      recordStream(e.status, e.code);
      boundary();
      write(streamErrorEvent(e.message, e.code ?? "guardrail_blocked", e.type));
      res.end();
      finish(x);
    };
    const closeUpstream = (status: "ok" | "error", errorType: string | null) =>
      upstreamSpan(x, performance.now(), status, errorType, meter.usage ? meter.usage.tokensOut : meter.contentEvents, meter.firstTokenAt);
    const complete = async () => {
      closeUpstream("ok", null);
      const held = guard.streamRelease();
      if (held === null) return block(guard.streamBlockedError());
      boundary();
      for (const [index, text] of held) write(meter.contentEvent(index, text, chat));
      if (held.length > 0 && meter.firstTokenAt === 0) meter.firstTokenAt = performance.now();
      let blocked: GatewayErrorBody | null;
      try {
        blocked = await guard.finishStream();
      } catch (error) {
        log("error", "gateway output guardrails failed", { requestId: x.requestId, error: error instanceof Error ? error.message : String(error) });
        blocked = ERRORS.internal;
      }
      if (x.finished) return;
      if (blocked) return block(blocked);
      ended = true;
      boundary();
      // The record goes to the spool before the client receives the final [DONE].
      recordStream(meter.upstreamError ? 502 : status, meter.upstreamError ? "upstream_error" : null);
      write(guard.verdictEvent(meter.chunkId, meter.chunkCreated, meter.chunkModel));
      // OpenAI documents the usage chunk as the last one before [DONE]: it stays there.
      write(meter.heldUsage);
      write("data: [DONE]\n\n");
      res.end();
      finish(x);
    };
    ures.on("data", (chunk: Buffer) => {
      if (ended || finishing || x.finished) return;
      const r = meter.pushGuarded(chunk, performance.now(), guard);
      write(r.out);
      if (r.blocked) {
        closeUpstream("error", "guardrail_blocked");
        return block(guard.streamBlockedError());
      }
      if (r.done) {
        finishing = true;
        void complete();
      }
    });
    const broken = () => {
      if (ended || finishing || x.finished) return;
      ended = true;
      if (!meter.upstreamError) {
        // Never a silent clean end: what the redactor held back is dropped with the broken stream.
        recordStream(502, "stream_interrupted");
        boundary();
        write(streamErrorEvent("The model server closed the stream before it finished. The response is incomplete.", "stream_interrupted"));
        log("warn", "gateway stream broke after it started", { requestId: x.requestId, deploymentId: x.route.id, replicaId: x.replica?.id });
      } else {
        recordStream(502, "upstream_error");
      }
      res.end();
      finish(x);
    };
    ures.on("end", broken);
    ures.on("close", () => {
      if (!ures.complete && !ended && !finishing && x.replica) markUnhealthy(x.replica, performance.now());
      broken();
    });
  }

  // ---- judges ----

  /**
   * Groundedness judged by one of the organisation's own deployments, through the gateway's own
   * routing (docs/guardrails.md, "Judges"): the deployment must be the organisation's, running, and
   * allowed by the residency policy for the request's data class, so the sources and the answer
   * never go where the request could not. Resolves with the judge's reply text.
   */
  function callJudgeDeployment(scope: { orgId: string; dataClass: string }, deploymentId: string, messages: unknown, signal: AbortSignal): Promise<string> {
    const fail = (code: string) => Promise.reject(Object.assign(new Error(`judge: ${code}`), { code }));
    const route = state.routesById.get(deploymentId);
    if (!route || route.orgId !== scope.orgId) return fail("judge_not_found");
    if (route.desiredState !== "RUNNING" || route.replicas.length === 0) return fail("no_healthy_replica");
    const dataClass = scope.dataClass as DataClass;
    if (!(dataClass in DATA_CLASS_RANK) || DATA_CLASS_RANK[dataClass] > DATA_CLASS_RANK[route.dataClass] || !state.verdict(route, dataClass).allowed) return fail("residency_refused");
    const replica = pickReplica(route, null, performance.now());
    if (!replica) return fail("no_healthy_replica");
    const payload = Buffer.from(JSON.stringify({ model: route.name, messages, temperature: 0, max_tokens: 512, stream: false }));
    replica.inFlight++;
    return new Promise<string>((resolve, reject) => {
      const upstream = http.request(
        {
          agent,
          host: replica.host,
          port: replica.port,
          method: "POST",
          path: EP_CHAT,
          signal,
          headers: { "content-type": "application/json", "content-length": payload.length, authorization: replicaAuthorization(route.id, replica.id) },
        },
        (ures) => {
          const chunks: Buffer[] = [];
          let size = 0;
          ures.on("data", (c: Buffer) => {
            size += c.length;
            if (size > 1 << 20) ures.destroy(Object.assign(new Error("judge reply too large"), { code: "judge_bad_reply" }));
            else chunks.push(c);
          });
          ures.on("error", (e) => reject(Object.assign(e, { code: signal.aborted ? "timeout" : ((e as NodeJS.ErrnoException).code ?? "judge_failed") })));
          ures.on("end", () => {
            if ((ures.statusCode ?? 502) >= 400) return reject(Object.assign(new Error("judge refused"), { code: `http_${ures.statusCode}` }));
            try {
              const reply = JSON.parse(Buffer.concat(chunks).toString("utf8")) as { choices?: { message?: { content?: unknown } }[] };
              const text = reply.choices?.[0]?.message?.content;
              if (typeof text === "string") resolve(text);
              else reject(Object.assign(new Error("judge reply"), { code: "judge_bad_reply" }));
            } catch {
              reject(Object.assign(new Error("judge reply"), { code: "judge_bad_reply" }));
            }
          });
        },
      );
      upstream.on("error", (e) => reject(Object.assign(e, { code: signal.aborted ? "timeout" : ((e as NodeJS.ErrnoException).code ?? "judge_failed") })));
      upstream.end(payload);
    }).finally(() => {
      replica.inFlight--;
    });
  }

  // ---- request handling ----

  /**
   * The whole body; "too-large" past MAX_BODY_BYTES (the rest is not read); "timeout" when it
   * arrives too slowly: its deadline is `bodyTimeoutMs` after the headers plus the time the bytes
   * received so far take at `bodyMinRate`; null when the client went away first. A body that
   * came complete with its headers (the usual case) arms no timer.
   */
  function readBody(req: IncomingMessage, started: number): Promise<Buffer | "too-large" | "timeout" | null> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let timer: NodeJS.Timeout | null = null;
      const done = (result: Buffer | "too-large" | "timeout" | null) => {
        if (timer) clearTimeout(timer);
        timer = null;
        resolve(result);
      };
      const stop = (result: "too-large" | "timeout") => {
        req.removeAllListeners("data");
        req.pause();
        done(result);
      };
      const check = () => {
        const wait = started + bodyTimeoutMs + (size * 1000) / bodyMinRate - performance.now();
        if (wait > 0) timer = setTimeout(check, wait);
        else stop("timeout");
      };
      if (!req.complete) timer = setTimeout(check, Math.max(1, started + bodyTimeoutMs - performance.now()));
      req.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) return stop("too-large");
        chunks.push(chunk);
      });
      req.on("end", () => {
        const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
        // The listeners stay on the request, which its connection remembers (edge.ts): not the bytes.
        chunks.length = 0;
        done(body);
      });
      req.on("error", () => done(null));
      req.on("close", () => done(null));
    });
  }

  function listModels(res: ServerResponse, t: RequestTrace, entry: KeyEntry, only: string | null) {
    const requestId = t.requestId;
    const data: { id: string; object: "model"; created: number; owned_by: string }[] = [];
    const routes = state.routesByOrg.get(entry.orgId);
    if (routes) {
      for (const route of routes.values()) {
        if (!listed(route) || (entry.allowed && !entry.allowed.has(route.id))) continue;
        if (only !== null && route.name !== only) continue;
        data.push({ id: route.name, object: "model", created: route.createdAtSec, owned_by: "organization" });
      }
    }
    for (const mr of listedModelRoutes(state, entry, only)) data.push({ id: mr.name, object: "model", created: mr.createdAtSec, owned_by: "organization" });
    if (only !== null && data.length === 0) {
      const e = modelNotFound(only);
      answered(t, e.status, e.code);
      return sendError(res, requestId, e, t.traceparent);
    }
    const body = Buffer.from(JSON.stringify(only !== null ? data[0] : { object: "list", data }));
    answered(t, 200, null);
    res.writeHead(200, ["content-type", "application/json", "content-length", body.length, "x-request-id", requestId, "traceparent", t.traceparent] as unknown as string[]);
    res.end(body);
  }

  /**
   * Answers a refusal. The rest of a small body (64 KiB at most, arriving within `bodyTimeoutMs`;
   * usually it came with the headers and is a tick away) is read and dropped first, so that the
   * connection stays open for the client's next call. Any other unfinished body is not read: the
   * answer says `connection: close` and the connection closes after it (edge.ts).
   */
  function refuse(req: IncomingMessage, res: ServerResponse, requestId: string, e: GatewayErrorBody, mayDrain = true): void | Promise<void> {
    const t = (res as TracedResponse)[TRACE] ?? newTrace(res, req.method ?? "", "");
    if (req.complete || res.headersSent) return sendRefusal(t, res, requestId, e);
    const drained = mayDrain ? drainSmallBody(req) : false;
    if (drained === false) {
      closeAfterAnswer(req, res);
      return sendRefusal(t, res, requestId, e);
    }
    return drained
      .then((ended) => {
        if (!ended && !res.headersSent) closeAfterAnswer(req, res);
        sendRefusal(t, res, requestId, e);
      })
      .catch((error: unknown) => log("error", "gateway could not answer a refusal", { requestId, error: String(error) }));
  }

  function sendRefusal(t: RequestTrace, res: ServerResponse, requestId: string, e: GatewayErrorBody) {
    // A response already begun (a stream) was traced with it.
    if (!res.headersSent) answered(t, e.status, e.code);
    sendError(res, requestId, e, t.traceparent);
  }

  /** Reads and drops the rest of a body of at most DRAIN_MAX_BYTES within its deadline: whether it ended. */
  function drainSmallBody(req: IncomingMessage): Promise<boolean> | false {
    const declared = req.headers["content-length"];
    if (declared !== undefined && !(Number(declared) <= DRAIN_MAX_BYTES)) return false;
    return new Promise((resolve) => {
      let size = 0;
      const done = (ended: boolean) => {
        clearTimeout(timer);
        req.removeListener("data", onData);
        req.removeListener("end", onEnd);
        req.removeListener("close", onClose);
        if (!ended) req.pause();
        resolve(ended);
      };
      const onData = (chunk: Buffer) => {
        size += chunk.length;
        if (size > DRAIN_MAX_BYTES) done(false);
      };
      const onEnd = () => done(true);
      const onClose = () => done(false);
      const timer = setTimeout(() => done(false), bodyTimeoutMs);
      req.on("data", onData);
      req.on("end", onEnd);
      req.on("close", onClose);
    });
  }

  /**
   * A request a guardrail refused before the model saw it: answered like a refusal, but metered
   * (no tokens, no cost) so that the dashboards count the verdict (docs/guardrails.md).
   */
  function refuseGuarded(res: ServerResponse, t: RequestTrace, entry: KeyEntry, route: Route, path: string, recordId: string, started: number, at: number, e: GatewayErrorBody, guard: RequestGuardrails) {
    const now = performance.now();
    const usage: UsageEntry = {
      requestId: recordId,
      orgId: route.orgId,
      apiKeyId: entry.id,
      deploymentId: route.id,
      endpoint: path,
      tokensIn: 0,
      tokensOut: 0,
      latencyMs: Math.round((now - started) * 1000) / 1000,
      ttftMs: null,
      status: e.status,
      costMicroEur: 0,
      at,
      stream: t.stream,
      guardrails: guard.codes.length > 0 ? guard.codes : null,
    };
    answered(t, e.status, e.code, usage);
    sendError(res, t.requestId, e, t.traceparent);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, t: RequestTrace, path: string, requestId: string, recordId: string, started: number, at: number) {
    const method = req.method;
    const isModels = path === "/v1/models" || path.startsWith("/v1/models/");
    if (isModels ? method !== "GET" : method !== "POST") return refuse(req, res, requestId, methodNotAllowed(method ?? "", path));

    const authAt = performance.now();
    let auth = authenticate(req.headers.authorization, at);
    if (auth instanceof Promise) auth = await auth;
    if (isError(auth)) {
      t.span("auth", "internal", authAt, performance.now(), "error", errorAttributes(auth));
      // Wrong secret, unknown prefix or malformed key: answered at the same moment after arrival,
      // so the time taken never tells which key prefixes exist.
      if (auth === ERRORS.invalidKey) await until(started + authFailureDelayMs);
      return refuse(req, res, requestId, auth);
    }
    const entry = auth;
    t.span("auth", "internal", authAt, performance.now(), "ok", entry.traceAttributes);
    t.orgId = entry.orgId;
    t.apiKeyId = entry.id;
    t.capture = entry.captureContent;
    const org = state.orgs.get(entry.orgId);
    if (org && !org.active) return refuse(req, res, requestId, organizationSuspended(org.reason));

    if (isModels) {
      if (!entry.inference && !entry.read) return refuse(req, res, requestId, ERRORS.noReadScope);
      let only: string | null = null;
      if (path !== "/v1/models") {
        try {
          only = decodeURIComponent(path.slice("/v1/models/".length));
        } catch {
          return refuse(req, res, requestId, modelNotFound(path.slice("/v1/models/".length)));
        }
      }
      return listModels(res, t, entry, only);
    }
    if (!entry.inference) return refuse(req, res, requestId, ERRORS.noInferenceScope);

    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) return refuse(req, res, requestId, ERRORS.bodyTooLarge, false);
    const rawBody = await readBody(req, started);
    // The client went away (or the edge answered a broken body, and traced it).
    if (rawBody === null) return answered(t, res.headersSent ? res.statusCode : 499, null);
    if (rawBody === "too-large") return refuse(req, res, requestId, ERRORS.bodyTooLarge, false);
    if (rawBody === "timeout") return refuse(req, res, requestId, ERRORS.requestTimeout, false);
    // Before parsing: nothing downstream (validation, metering, the replica) meets absurd nesting.
    if (jsonTooDeep(rawBody)) return refuse(req, res, requestId, ERRORS.jsonTooDeep);
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(rawBody.toString("utf8"));
    } catch {
      return refuse(req, res, requestId, ERRORS.invalidJson);
    }
    if (parsed !== null && typeof parsed === "object") {
      if (t.capture) t.capturedRequest = capturedRequest(rawBody, parsed);
      if (typeof parsed.stream === "boolean") t.stream = parsed.stream;
    }
    if (parsed === null || typeof parsed !== "object" || typeof parsed.model !== "string" || parsed.model.length === 0) {
      return refuse(req, res, requestId, ERRORS.missingModel);
    }
    t.setModel(parsed.model);
    const invalid = validateRequest(path as Endpoint, parsed);
    if (invalid) return refuse(req, res, requestId, invalid);
    // A deployment's name, else a route's (docs/routes.md): one more map lookup, then a member chosen for this request's data class.
    const direct = state.route(entry.orgId, parsed.model);
    // A member just taken to zero may not be in the cold-start set yet: reload it before judging the members.
    if (!direct) {
      const mr = state.modelRoutes.get(entry.orgId, parsed.model);
      if (mr?.members.some((m) => { const r = state.routesById.get(m.deploymentId); return r !== undefined && coldStart.unsure(r); })) await coldStart.refreshSoon();
    }
    const routed = direct ? null : pickModelRoute(state, t, entry, parsed.model, req.headers["x-data-classification"], wakeable);
    if (routed !== null && isError(routed)) return refuse(req, res, requestId, routed);
    const route = direct ?? routed?.route;
    if (!route) return refuse(req, res, requestId, modelNotFound(parsed.model));
    t.deploymentId = route.id;
    t.regionId = route.region.id;
    if (entry.allowed && !entry.allowed.has(route.id)) return refuse(req, res, requestId, modelNotAllowed(route.name));
    const outOfBounds = checkBounds(path, parsed, route);
    if (outOfBounds) return refuse(req, res, requestId, outOfBounds);
    // Guardrails: nothing is allocated when no rule applies (one WeakMap lookup).
    let guard: RequestGuardrails | null = null;
    let rewrite = false;
    const prepared = prepareGuardrails(state.guardrailsFor(entry.orgId, route.id, entry.id), path, parsed, t, guardrailOptions);
    if (prepared !== null) {
      if (isError(prepared)) return refuse(req, res, requestId, prepared);
      guard = prepared.guard;
      rewrite = prepared.rewrite;
    }

    // Residency: the data class the caller declares (the deployment's own by default).
    const residencyAt = performance.now();
    const header = req.headers["x-data-classification"];
    let dataClass = routed ? routed.dataClass : route.dataClass;
    if (header !== undefined) {
      const requested = (Array.isArray(header) ? header[0] : header).trim().toUpperCase();
      if (!(requested in DATA_CLASS_RANK)) {
        t.span("residency", "internal", residencyAt, performance.now(), "error", errorAttributes(ERRORS.badClassification));
        return refuse(req, res, requestId, ERRORS.badClassification);
      }
      dataClass = requested as DataClass;
      t.dataClass = dataClass;
      if (DATA_CLASS_RANK[dataClass] > DATA_CLASS_RANK[route.dataClass]) {
        const e = classificationTooHigh(route.name, route.dataClass, dataClass);
        t.span("residency", "internal", residencyAt, performance.now(), "error", {
          "enclave.data_class": dataClass,
          "enclave.residency.verdict": "refused",
          "enclave.residency.reasons": [`data class ${dataClass} is stricter than ${route.dataClass}, the class the deployment was made for`],
          "error.type": e.code ?? e.type,
        });
        return refuse(req, res, requestId, e);
      }
    }
    t.dataClass = dataClass;
    const verdict = state.verdict(route, dataClass);
    t.span("residency", "internal", residencyAt, performance.now(), verdict.allowed ? "ok" : "error", state.residencyAttributes(route, dataClass));
    if (!verdict.allowed) return refuse(req, res, requestId, residencyRefused(route.name, dataClass, route.region.code, verdict.reasons));

    if (coldStart.unsure(route)) await coldStart.refreshSoon();
    if (route.desiredState !== "RUNNING" || (route.replicas.length === 0 && !coldStart.holds(route))) return refuse(req, res, requestId, noHealthyReplica(route.name, route.phase));

    const limitsAt = performance.now();
    let refusal = limiter.admit(entry, Date.now(), org);
    if (refusal instanceof Promise) refusal = await refusal;
    t.span("limits", "internal", limitsAt, performance.now(), refusal ? "error" : "ok", limitsAttributes(entry, org?.hardBudgetCents != null, refusal));
    if (refusal) return refuse(req, res, requestId, refusal);
    if (res.destroyed) return answered(t, 499, null);

    let body = rawBody;
    if (guard !== null) {
      guard.judgeScope = { orgId: entry.orgId, dataClass };
      const input = await guard.checkInput(parsed);
      if (input !== true && input !== false) return refuseGuarded(res, t, entry, route, path, recordId, started, at, input, guard);
      if (input) rewrite = true;
      if (res.destroyed) return answered(t, 499, null);
    }
    // A route's member serves its deployment's name only: the body names the chosen deployment.
    if (routed !== null) {
      parsed.model = route.name;
      rewrite = true;
    }
    // The body the model receives: the original bytes, unless a guardrail changed it.
    if (rewrite) {
      body = Buffer.from(JSON.stringify(parsed));
      // A captured request is what the model received: redacted when the policy redacts.
      if (t.capture) t.capturedRequest = capturedRequest(body, parsed);
    }

    const x: Exchange = {
      req,
      res,
      t,
      upstreamAt: 0,
      connectedAt: 0,
      reusedConnection: false,
      upstreamStatus: 0,
      completion: null,
      path,
      requestId,
      recordId,
      started,
      at,
      entry,
      route,
      routed,
      body,
      parsed,
      attempt: 0,
      replica: null,
      upstream: null,
      firstByteAt: 0,
      meter: null,
      guard,
      recorded: false,
      finished: false,
    };
    inFlight++;
    res.on("close", () => {
      if (x.finished) return;
      // The client hung up: stop the generation and meter what was used.
      x.upstream?.destroy();
      const m = x.meter;
      record(x, 499, m?.usage ?? null, m?.firstTokenAt || x.firstByteAt, m && !m.usage ? m.contentEvents : 0);
      finish(x);
    });
    if (x.route.replicas.length === 0) return holdForColdStart(x);
    load.begin(x, x.route.id);
    forward(x, null);
  }

  /** A deployment at zero: the request waits for a replica (cold-start.ts), its trace shows the wait. */
  function holdForColdStart(x: Exchange) {
    const t0 = performance.now();
    void coldStart.wait(x.route, x.req.headers[COLD_START.header], x.res).then((woke) => {
      const failed = woke !== null && "error" in woke ? woke : null;
      x.t.span("cold_start", "internal", t0, performance.now(), failed ? "error" : "ok", {
        "enclave.deployment.id": x.route.id,
        "enclave.cold_start.outcome": woke === null ? "client_closed" : failed ? failed.outcome : "served",
        ...(failed ? { "error.type": failed.error.code ?? failed.error.type } : {}),
      });
      // The client hung up meanwhile: the close handler has answered and metered it.
      if (woke === null || x.finished) return;
      if (failed) return failExchange(x, failed.error, false);
      x.route = (woke as { route: Route }).route;
      load.begin(x, x.route.id);
      forward(x, null);
    });
  }

  function onRequest(req: IncomingMessage, res: ServerResponse) {
    const started = performance.now();
    const at = Date.now();
    const rawUrl = req.url ?? "/";
    const q = rawUrl.indexOf("?");
    const path = q === -1 ? rawUrl : rawUrl.slice(0, q);
    const recordId = idPrefix + (++idCounter).toString(36);
    const incoming = req.headers["x-request-id"];
    const requestId = typeof incoming === "string" && REQUEST_ID.test(incoming) ? incoming : recordId;
    const t = new RequestTrace(req.headers.traceparent, started, at, requestId, recordId, req.method ?? "", path.length > 200 ? path.slice(0, 200) : path);
    (res as TracedResponse)[TRACE] = t;
    if (!edge.track(req, res, requestId)) return;
    if (rawUrl.length > MAX_URL_BYTES) return refuse(req, res, requestId, ERRORS.uriTooLong);
    if (req.headers.host === undefined && req.httpVersionMinor === 1 && req.httpVersionMajor === 1) return refuse(req, res, requestId, ERRORS.missingHost);
    if (path === "/health") {
      answered(t, closing ? 503 : 200, closing ? "service_unavailable" : null);
      res.writeHead(closing ? 503 : 200, ["content-type", "application/json", "content-length", HEALTH_BODY.length, "x-request-id", requestId, "traceparent", t.traceparent] as unknown as string[]);
      res.end(HEALTH_BODY);
      return;
    }
    if (path === "/metrics" && options.metrics) {
      // Scrapes are not traced (they would count themselves), but carry the trace context like every answer.
      res.setHeader("traceparent", t.traceparent);
      return options.metrics.serve(req, res, requestId);
    }
    if (path !== EP_CHAT && path !== EP_COMPLETIONS && path !== EP_EMBEDDINGS && path !== "/v1/models" && !path.startsWith("/v1/models/")) {
      return refuse(req, res, requestId, unknownUrl(req.method ?? "", path));
    }
    if (closing) return refuse(req, res, requestId, ERRORS.unavailable);
    handle(req, res, t, path, requestId, recordId, started, at).catch((error: unknown) => {
      log("error", "gateway request failed", { requestId, error: error instanceof Error ? error.message : String(error) });
      refuse(req, res, requestId, ERRORS.internal);
    });
  }

  const server = http.createServer(
    {
      headersTimeout: headersTimeoutMs,
      // Node's own cap on a whole request, behind the body deadline of readBody (which is tighter).
      requestTimeout: headersTimeoutMs + bodyTimeoutMs + Math.ceil((MAX_BODY_BYTES * 1000) / bodyMinRate) + 1000,
      keepAliveTimeout: keepAliveTimeoutMs,
      // How often Node looks for connections past their headers or request timeout.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(headersTimeoutMs / 4))),
      maxHeaderSize: MAX_HEAD_BYTES,
      // Checked in onRequest, to answer in OpenAI's shape.
      requireHostHeader: false,
    },
    onRequest,
  );
  // Parser errors, timeouts, Expect and connections per address (edge.ts).
  const edge = guardServer(server, { maxConnectionsPerAddress: options.maxConnectionsPerAddress ?? 256, requestId: () => idPrefix + (++idCounter).toString(36), answer: edgeAnswer });

  return {
    get url() {
      return url;
    },
    spool,
    state,
    async listen() {
      // Each step once, so a caller may retry listen() while the database is unreachable.
      if (!started.state) {
        await state.start();
        await coldStart.start();
        started.state = true;
      }
      if (!started.spool) {
        await spool.open();
        limiter.start();
        load.start();
        cleanupTimer = setInterval(() => void leaseStore.cleanup().catch(() => {}), 5 * 60_000);
        cleanupTimer.unref();
        started.spool = true;
      }
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(options.port ?? 8080, options.host ?? "127.0.0.1", () => {
          server.off("error", reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
      url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host === "[::]" ? "[::1]" : host}:${address.port}`;
      return url;
    },
    async close() {
      if (closing) return;
      closing = true;
      if (cleanupTimer) clearInterval(cleanupTimer);
      // Held requests are answered now rather than kept until the drain deadline.
      coldStart.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = Date.now() + 10_000;
      while (inFlight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      server.closeAllConnections();
      await closed;
      await load.close();
      await limiter.close();
      await spool.close();
      await state.close();
      agent.destroy();
      await pool.end();
    },
  };
}
