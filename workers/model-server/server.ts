/**
 * OpenAI-compatible model server on plain node:http, backed by node-llama-cpp (llama.cpp on CPU).
 * main.ts is the process entry point; tests import startModelServer directly or spawn main.ts.
 */
import { randomBytes } from "node:crypto";
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  getLlama,
  LlamaLogLevel,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaContextSequence,
  type LlamaModel,
  type Token,
} from "node-llama-cpp";
import { z } from "zod";
import { authorizationMatches } from "./replica-auth";

export interface ModelServerOptions {
  modelPath: string;
  /** The only `model` value requests may name (the deployment's name). */
  modelName: string;
  host?: string;
  /** 0 picks a free port (tests). */
  port?: number;
  /** llama.cpp threads; 1 by default because more threads are far slower on this 2-core machine. */
  threads?: number;
  /** Parallel generations (context sequences); further requests wait in a queue. */
  parallel?: number;
  /** Context size per sequence, capped at the model's training context. */
  contextSize?: number;
  /** Upper bound for max_tokens. */
  maxTokensCap?: number;
  /** One JSON line per request; defaults to stdout. */
  log?: (entry: Record<string, unknown>) => void;
  /**
   * The replica's bearer token (replica-auth.ts): every request but `GET /health` must carry
   * `Authorization: Bearer <token>`, else 401. Drivers always set it; unset serves everyone.
   */
  authToken?: string;
}

export interface RunningModelServer {
  /** http://host:port */
  url: string;
  port: number;
  /** Resolves once the model is loaded and /health answers 200; rejects if loading fails. */
  ready: Promise<void>;
  /** Stops accepting requests, lets in-flight ones finish (briefly), disposes llama. */
  close(): Promise<void>;
}

const DEFAULT_MAX_TOKENS = 16;
const MAX_BODY_BYTES = 1 << 20;
const MAX_QUEUE = 64;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
  ) {
    super(message);
  }
}

// ---- request schemas (unknown OpenAI fields are accepted and ignored) ----

const contentPart = z.object({ type: z.literal("text"), text: z.string() });
const chatMessage = z.object({
  role: z.enum(["system", "developer", "user", "assistant"]),
  content: z.union([z.string(), z.array(contentPart), z.null()]).optional(),
});
const sampling = {
  model: z.string().min(1),
  max_tokens: z.number().int().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  seed: z.number().int().nullish(),
  stop: z.union([z.string(), z.array(z.string()).max(4)]).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z.object({ include_usage: z.boolean().nullish() }).nullish(),
  n: z.literal(1).nullish(),
};
const chatRequest = z.object({ ...sampling, messages: z.array(chatMessage).min(1), max_completion_tokens: z.number().int().min(1).nullish() });
const completionRequest = z.object({ ...sampling, prompt: z.union([z.string(), z.array(z.string()).length(1)]) });

type ChatRequest = z.infer<typeof chatRequest>;
type CompletionRequest = z.infer<typeof completionRequest>;

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const param = issue.path.length ? issue.path.map(String).join(".") : null;
  throw new HttpError(400, `Invalid request: ${param ? `${param}: ` : ""}${issue.message}`, "invalid_request_error", param, "invalid_value");
}

// ---- generation ----

interface Generation {
  text: string;
  promptTokens: number;
  completionTokens: number;
  finishReason: "stop" | "length";
}

interface GenerateParams {
  prompt: Token[];
  maxTokens: number;
  temperature: number;
  topP?: number;
  seed?: number;
  stopStrings: string[];
  stopTokenSequences: Token[][];
  signal: AbortSignal;
  onText?: (delta: string) => void;
}

/** A fixed set of context sequences handed out one request at a time; waiters queue FIFO. */
class SequencePool {
  private free: LlamaContextSequence[];
  private waiters: Array<(s: LlamaContextSequence) => void> = [];
  constructor(sequences: LlamaContextSequence[]) {
    this.free = sequences;
  }
  async acquire(signal: AbortSignal): Promise<LlamaContextSequence> {
    const s = this.free.pop();
    if (s) return s;
    if (this.waiters.length >= MAX_QUEUE) throw new HttpError(429, "Too many queued requests, retry later.", "rate_limit_error", null, "queue_full");
    return new Promise((resolve, reject) => {
      const waiter = (seq: LlamaContextSequence) => resolve(seq);
      this.waiters.push(waiter);
      signal.addEventListener("abort", () => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          reject(signal.reason);
        }
      });
    });
  }
  release(s: LlamaContextSequence) {
    const next = this.waiters.shift();
    if (next) next(s);
    else this.free.push(s);
  }
}

/** Length of the longest suffix of `text` that starts one of `stops` (held back while streaming). */
function partialStopSuffix(text: string, stops: string[]) {
  let longest = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > longest; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        longest = n;
        break;
      }
    }
  }
  return longest;
}

const endsWithTokens = (tokens: Token[], tail: Token[]) =>
  tail.length > 0 && tokens.length >= tail.length && tail.every((t, i) => tokens[tokens.length - tail.length + i] === t);

class Engine {
  private constructor(
    readonly llama: Llama,
    readonly model: LlamaModel,
    readonly context: LlamaContext,
    readonly chatWrapper: ChatWrapper,
    private readonly pool: SequencePool,
  ) {}

  static async load(options: ModelServerOptions): Promise<Engine> {
    // Never build or download llama.cpp: the prebuilt CPU binary ships inside the npm package.
    const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, progressLogs: false, logLevel: LlamaLogLevel.warn });
    try {
      const model = await llama.loadModel({ modelPath: options.modelPath, gpuLayers: 0 });
      const parallel = Math.max(1, options.parallel ?? 2);
      const contextSize = Math.min(model.trainContextSize, options.contextSize ?? 4096);
      const context = await model.createContext({ contextSize, sequences: parallel, threads: options.threads ?? 1 });
      const sequences = Array.from({ length: parallel }, () => context.getSequence());
      // The GGUF's own chat template (or a known family's wrapper); a model without one gets a generic format.
      const chatWrapper = resolveChatWrapper(model);
      return new Engine(llama, model, context, chatWrapper, new SequencePool(sequences));
    } catch (error) {
      await llama.dispose();
      throw error;
    }
  }

  get contextSize() {
    return this.context.contextSize;
  }

  tokenizeCompletionPrompt(prompt: string): Token[] {
    // Same as llama.cpp's tokenize with add_special: BOS first when the vocabulary asks for it.
    const bos = this.model.tokens.bos;
    const tokens = this.model.tokenize(prompt, false);
    return this.model.tokens.shouldPrependBosToken && bos != null ? [bos, ...tokens] : tokens;
  }

  renderChat(history: ChatHistoryItem[]) {
    const state = this.chatWrapper.generateContextState({ chatHistory: history });
    const stopStrings: string[] = [];
    const stopTokenSequences: Token[][] = [];
    for (const trigger of state.stopGenerationTriggers) {
      // Triggers made of special tokens are matched as tokens; plain-text ones as text.
      if (trigger.values.every((v) => typeof v === "string")) stopStrings.push(trigger.values.join(""));
      else stopTokenSequences.push(trigger.tokenize(this.model.tokenizer));
    }
    return { prompt: state.contextText.tokenize(this.model.tokenizer), stopStrings, stopTokenSequences };
  }

  /** Runs one generation on a pooled sequence; the token loop is ours so usage counts are exact. */
  async generate(p: GenerateParams): Promise<Generation> {
    const sequence = await this.pool.acquire(p.signal);
    try {
      await sequence.clearHistory();
      const generated: Token[] = [];
      let sampled = 0;
      let emitted = 0;
      let text = "";
      let finishReason: Generation["finishReason"] = "length";
      const stops = p.stopStrings.filter((s) => s.length > 0);
      const iterator = sequence.evaluate(p.prompt, {
        temperature: p.temperature,
        topP: p.topP,
        seed: p.seed,
        yieldEogToken: true,
      });
      try {
        for (let step = await iterator.next(); !step.done; step = await iterator.next()) {
          const token = step.value;
          sampled++;
          if (this.model.isEogToken(token)) {
            finishReason = "stop";
            text = this.model.detokenize(generated);
            break;
          }
          generated.push(token);
          const tokenStop = p.stopTokenSequences.find((seq) => endsWithTokens(generated, seq));
          if (tokenStop) {
            generated.splice(generated.length - tokenStop.length);
            finishReason = "stop";
            text = this.model.detokenize(generated);
            break;
          }
          text = this.model.detokenize(generated);
          const hit = stops.map((s) => text.indexOf(s)).filter((i) => i >= 0);
          if (hit.length) {
            text = text.slice(0, Math.min(...hit));
            finishReason = "stop";
            break;
          }
          if (sampled >= p.maxTokens || p.signal.aborted) break;
          // Hold back an incomplete UTF-8 character and any text that may be the start of a stop string.
          let safe = text.length - partialStopSuffix(text, stops);
          while (safe > emitted && text.charCodeAt(safe - 1) === 0xfffd) safe--;
          if (safe > emitted) {
            p.onText?.(text.slice(emitted, safe));
            emitted = safe;
          }
        }
      } finally {
        await iterator.return();
      }
      if (text.length > emitted) p.onText?.(text.slice(emitted));
      // Every sampled token counts, including an end-of-generation or stop token that is not in the text.
      return { text, promptTokens: p.prompt.length, completionTokens: sampled, finishReason };
    } finally {
      this.pool.release(sequence);
    }
  }

  async dispose() {
    await this.llama.dispose();
  }
}

// ---- HTTP ----

function sendJson(res: ServerResponse, status: number, body: unknown) {
  const data = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
  res.end(data);
}

function sendError(res: ServerResponse, e: HttpError) {
  sendJson(res, e.status, { error: { message: e.message, type: e.type, param: e.param, code: e.code } });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, "Request body too large.", "invalid_request_error", null, "body_too_large");
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new HttpError(400, "Request body is not valid JSON.", "invalid_request_error", null, "invalid_json");
  }
}

function messageText(content: z.infer<typeof chatMessage>["content"]): string {
  if (content == null) return "";
  return typeof content === "string" ? content : content.map((p) => p.text).join("");
}

function toHistory(messages: ChatRequest["messages"]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m) =>
    m.role === "assistant"
      ? { type: "model", response: [messageText(m.content)] }
      : m.role === "user"
        ? { type: "user", text: messageText(m.content) }
        : { type: "system", text: messageText(m.content) },
  );
  // A trailing assistant message is a prefix to continue; otherwise open an empty model turn.
  if (history.at(-1)?.type !== "model") history.push({ type: "model", response: [] });
  return history;
}

const unauthorized = () => new HttpError(401, "Missing or invalid replica token.", "authentication_error", null, "invalid_replica_token");

const newId = (prefix: string) => `${prefix}-${randomBytes(12).toString("hex")}`;

export async function startModelServer(options: ModelServerOptions): Promise<RunningModelServer> {
  const log = options.log ?? ((entry) => process.stdout.write(`${JSON.stringify(entry)}\n`));
  const cap = options.maxTokensCap ?? 512;
  const created = Math.floor(Date.now() / 1000);
  let engine: Engine | null = null;
  let closing = false;
  const inFlight = new Set<AbortController>();

  const modelObject = () => ({ id: options.modelName, object: "model", created, owned_by: "enclave" });

  function checkModel(name: string) {
    if (name !== options.modelName) {
      throw new HttpError(404, `The model \`${name}\` does not exist.`, "invalid_request_error", "model", "model_not_found");
    }
  }

  function budget(e: Engine, kind: "chat" | "text", promptTokens: number, requested: number | null | undefined) {
    const room = e.contextSize - promptTokens;
    if (room < 1) {
      throw new HttpError(
        400,
        `This model's maximum context length is ${e.contextSize} tokens; the prompt has ${promptTokens}.`,
        "invalid_request_error",
        kind === "chat" ? "messages" : "prompt",
        "context_length_exceeded",
      );
    }
    return Math.min(requested ?? DEFAULT_MAX_TOKENS, cap, room);
  }

  async function run(
    res: ServerResponse,
    kind: "chat" | "text",
    body: ChatRequest | CompletionRequest,
    prompt: { prompt: Token[]; stopStrings: string[]; stopTokenSequences: Token[][] },
    requestedMax: number | null | undefined,
  ) {
    const e = engine!;
    const maxTokens = budget(e, kind, prompt.prompt.length, requestedMax);
    const userStops = body.stop == null ? [] : typeof body.stop === "string" ? [body.stop] : body.stop;
    const abort = new AbortController();
    inFlight.add(abort);
    // A client that hangs up mid-generation frees its sequence for the next request.
    res.on("close", () => {
      if (!res.writableFinished) abort.abort(new Error("client disconnected"));
    });
    const id = newId(kind === "chat" ? "chatcmpl" : "cmpl");
    // OpenAI names chat stream events "chat.completion.chunk"; legacy completions keep "text_completion".
    const object = kind === "text" ? "text_completion" : body.stream ? "chat.completion.chunk" : "chat.completion";
    const base = { id, object, created: Math.floor(Date.now() / 1000), model: options.modelName };
    const params: GenerateParams = {
      prompt: prompt.prompt,
      maxTokens,
      temperature: body.temperature ?? 1,
      topP: body.top_p ?? undefined,
      seed: body.seed ?? undefined,
      stopStrings: [...prompt.stopStrings, ...userStops],
      stopTokenSequences: prompt.stopTokenSequences,
      signal: abort.signal,
    };
    try {
      if (!body.stream) {
        const g = await e.generate(params);
        const usage = { prompt_tokens: g.promptTokens, completion_tokens: g.completionTokens, total_tokens: g.promptTokens + g.completionTokens };
        const choice =
          kind === "chat"
            ? { index: 0, message: { role: "assistant", content: g.text, refusal: null }, logprobs: null, finish_reason: g.finishReason }
            : { index: 0, text: g.text, logprobs: null, finish_reason: g.finishReason };
        sendJson(res, 200, { ...base, choices: [choice], usage });
        return { ...usage, aborted: abort.signal.aborted };
      }
      const includeUsage = body.stream_options?.include_usage === true;
      const withUsage = includeUsage ? { usage: null } : {};
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
      const send = (data: unknown) => res.write(`data: ${JSON.stringify(data)}\n\n`);
      if (kind === "chat") send({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }], ...withUsage });
      const chunk = (text: string, finish: string | null) =>
        kind === "chat"
          ? { index: 0, delta: text ? { content: text } : {}, logprobs: null, finish_reason: finish }
          : { index: 0, text, logprobs: null, finish_reason: finish };
      let g: Generation;
      try {
        g = await e.generate({ ...params, onText: (t) => send({ ...base, choices: [chunk(t, null)], ...withUsage }) });
      } catch (error) {
        if (!abort.signal.aborted) {
          send({ error: { message: error instanceof Error ? error.message : String(error), type: "server_error", param: null, code: null } });
        }
        res.end();
        throw error;
      }
      send({ ...base, choices: [chunk("", g.finishReason)], ...withUsage });
      const usage = { prompt_tokens: g.promptTokens, completion_tokens: g.completionTokens, total_tokens: g.promptTokens + g.completionTokens };
      if (includeUsage) send({ ...base, choices: [], usage });
      res.end("data: [DONE]\n\n");
      return { ...usage, aborted: abort.signal.aborted };
    } finally {
      inFlight.delete(abort);
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<Record<string, unknown> | void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const route = `${req.method} ${url.pathname.replace(/\/+$/, "") || "/"}`;
    const authorization = req.headers.authorization;
    if (route === "GET /health") {
      // Open, so probes need no secret, and it says only ok/loading/stopping; a wrong token is
      // still refused, which lets the drivers notice a replica started under another secret.
      if (options.authToken && authorization !== undefined && !authorizationMatches(authorization, options.authToken)) throw unauthorized();
      if (engine && !closing) return sendJson(res, 200, { status: "ok" });
      return sendJson(res, 503, { status: closing ? "stopping" : "loading" });
    }
    // Before anything else, unknown routes included: without the token nothing is revealed.
    if (options.authToken && !authorizationMatches(authorization, options.authToken)) throw unauthorized();
    const known = ["GET /v1/models", "POST /v1/chat/completions", "POST /v1/completions"];
    const modelRoute = /^GET \/v1\/models\/(.+)$/.exec(route);
    if (!known.includes(route) && !modelRoute) {
      throw new HttpError(404, `Unknown route ${req.method} ${url.pathname}.`, "invalid_request_error", null, "unknown_url");
    }
    if (route === "GET /v1/models") return sendJson(res, 200, { object: "list", data: [modelObject()] });
    if (modelRoute) {
      checkModel(decodeURIComponent(modelRoute[1]));
      return sendJson(res, 200, modelObject());
    }
    if (!engine || closing) throw new HttpError(503, "The model is not loaded yet.", "server_error", null, "model_loading");
    const raw = await readJson(req);
    if (route === "POST /v1/chat/completions") {
      const body = parseBody(chatRequest, raw);
      checkModel(body.model);
      const usage = await run(res, "chat", body, engine.renderChat(toHistory(body.messages)), body.max_completion_tokens ?? body.max_tokens);
      return { ...usage, stream: !!body.stream };
    }
    const body = parseBody(completionRequest, raw);
    checkModel(body.model);
    const text = typeof body.prompt === "string" ? body.prompt : body.prompt[0];
    const usage = await run(res, "text", body, { prompt: engine.tokenizeCompletionPrompt(text), stopStrings: [], stopTokenSequences: [] }, body.max_tokens);
    return { ...usage, stream: !!body.stream };
  }

  const server = http.createServer((req, res) => {
    const start = performance.now();
    handle(req, res)
      .then((extra) => {
        // Health probes arrive every few seconds from drivers; logging them would bury real traffic.
        if (req.url === "/health") return;
        log({ ts: new Date().toISOString(), method: req.method, path: req.url, status: res.statusCode, ms: Math.round(performance.now() - start), ...extra });
      })
      .catch((error: unknown) => {
        const e =
          error instanceof HttpError
            ? error
            : new HttpError(500, error instanceof Error ? error.message : String(error), "server_error");
        if (!res.headersSent) {
          if (e.status === 401) {
            res.setHeader("www-authenticate", 'Bearer realm="enclave-replica"');
            // The body was not read: close rather than parse what an unauthenticated caller sends.
            res.setHeader("connection", "close");
            req.resume();
          }
          sendError(res, e);
        }
        else if (!res.writableEnded) res.end();
        log({ ts: new Date().toISOString(), method: req.method, path: req.url, status: e.status, ms: Math.round(performance.now() - start), error: e.message });
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  // Listen first so /health can say "loading" (503) while the model loads.
  const ready = Engine.load(options).then((e) => {
    if (closing) return e.dispose();
    engine = e;
  });
  ready.catch(() => {});

  return {
    url: `http://${options.host ?? "127.0.0.1"}:${port}`,
    port,
    ready,
    async close() {
      if (closing) return;
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Give in-flight generations a moment, then cut them off.
      const deadline = Date.now() + 3000;
      while (inFlight.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const a of inFlight) a.abort(new Error("server shutting down"));
      server.closeAllConnections();
      await closed;
      await ready.catch(() => {});
      await engine?.dispose();
      engine = null;
    },
  };
}
