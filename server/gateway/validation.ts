/**
 * What the gateway accepts in a request body, checked at the edge before anything reaches a
 * replica: JSON nested at most MAX_JSON_DEPTH levels (checked on the raw bytes, before parsing),
 * then the OpenAI fields against OpenAI's documented types and ranges (zod schemas; fields OpenAI
 * does not document pass through untouched, for the runtimes' own extensions), then the bounds of
 * the deployment (`max_tokens` within the model's context, `n` what the runtime serves). A refusal
 * is `400 invalid_value` with the `param`, as OpenAI answers. The body forwarded is the original
 * bytes: validation never rewrites a request. See docs/gateway.md, "Limits".
 */
import { z } from "zod";
import { gatewayError, type GatewayErrorBody } from "./errors";

/** Objects and arrays nested deeper than this are refused (OpenAI's structured outputs allow 5 levels of schema nesting). */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether the JSON text nests objects and arrays more than `limit` levels deep, by one pass over
 * the bytes with string contents skipped (multi-byte UTF-8 never looks like ASCII): a fraction of
 * what JSON.parse costs on the same bytes. A text that is not JSON gives a meaningless answer, and
 * is refused by JSON.parse after.
 */
export function jsonTooDeep(buf: Buffer, limit = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  const n = buf.length;
  for (let i = 0; i < n; i++) {
    const c = buf[i];
    if (c === 0x22) {
      for (i++; i < n; i++) {
        const d = buf[i];
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limit) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * Prompt size in tokens, estimated at 4 characters a token, for upstreams that report no usage:
 * the strings of each message's `content` (content parts' `text`, or their `content`), `prompt`
 * and `input`, however they nest. Iterative (an explicit stack, never recursion) and bounded to
 * 100,000 values visited, so no body can exhaust the stack or the CPU here.
 */
export function estimatePromptTokens(body: Record<string, unknown>): number {
  let chars = 0;
  let budget = 100_000;
  const stack: unknown[] = [body.input, body.prompt];
  if (Array.isArray(body.messages)) {
    for (let i = body.messages.length - 1; i >= 0; i--) {
      const m = body.messages[i] as { content?: unknown } | null;
      if (typeof m === "object" && m !== null) stack.push(m.content);
    }
  }
  while (stack.length > 0 && budget-- > 0) {
    const v = stack.pop();
    if (typeof v === "string") chars += v.length;
    else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) {
        const p = v[i] as { text?: unknown; content?: unknown } | null;
        stack.push(typeof p === "object" && p !== null ? (p.text ?? p.content) : p);
      }
    }
  }
  return Math.ceil(chars / 4);
}

// ---- OpenAI's request bodies (https://platform.openai.com/docs/api-reference) ----

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.int().min(min).max(max);
const num = (min: number, max: number) => z.number().min(min).max(max);
const functionName = z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "must be 1 to 64 letters, digits, underscores or dashes");
const stop = z.union([z.string(), z.array(z.string()).max(4)]);
const streamOptions = z.looseObject({ include_usage: z.boolean().nullish() });
const tokenIds = z.array(z.int().min(0)).min(1);

/** Fields every generation endpoint shares. */
const sampling = {
  model: z.string().min(1).max(256),
  stream: z.boolean().nullish(),
  stream_options: streamOptions.nullish(),
  n: int(1, 128).nullish(),
  temperature: num(0, 2).nullish(),
  top_p: num(0, 1).nullish(),
  presence_penalty: num(-2, 2).nullish(),
  frequency_penalty: num(-2, 2).nullish(),
  stop: stop.nullish(),
  seed: z.int().nullish(),
  logit_bias: z.record(z.string().regex(/^\d{1,10}$/, "keys must be token ids"), num(-100, 100)).nullish(),
  user: z.string().max(512).nullish(),
};

const contentPart = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("text"), text: z.string() }),
  z.looseObject({ type: z.literal("image_url"), image_url: z.looseObject({ url: z.string(), detail: z.enum(["auto", "low", "high"]).nullish() }) }),
  z.looseObject({ type: z.literal("input_audio"), input_audio: z.looseObject({ data: z.string(), format: z.enum(["wav", "mp3"]) }) }),
  z.looseObject({ type: z.literal("file"), file: z.looseObject({ file_data: z.string().nullish(), file_id: z.string().nullish(), filename: z.string().nullish() }) }),
  z.looseObject({ type: z.literal("refusal"), refusal: z.string() }),
]);

const toolCall = z.looseObject({ id: z.string(), type: z.literal("function"), function: z.looseObject({ name: z.string(), arguments: z.string() }) });

const chatMessage = z.looseObject({
  role: z.enum(["system", "developer", "user", "assistant", "tool", "function"]),
  content: z.union([z.string(), z.array(contentPart)]).nullish(),
  name: z.string().nullish(),
  tool_calls: z.array(toolCall).nullish(),
  tool_call_id: z.string().nullish(),
});

const jsonSchemaObject = z.record(z.string(), z.unknown());

export const chatCompletionRequest = z.looseObject({
  ...sampling,
  messages: z.array(chatMessage).min(1),
  max_tokens: int(1).nullish(),
  max_completion_tokens: int(1).nullish(),
  logprobs: z.boolean().nullish(),
  top_logprobs: int(0, 20).nullish(),
  tools: z
    .array(
      z.looseObject({
        type: z.literal("function"),
        function: z.looseObject({ name: functionName, description: z.string().nullish(), parameters: jsonSchemaObject.nullish(), strict: z.boolean().nullish() }),
      }),
    )
    .max(128)
    .nullish(),
  tool_choice: z.union([z.enum(["none", "auto", "required"]), z.looseObject({ type: z.literal("function"), function: z.looseObject({ name: functionName }) })]).nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  response_format: z
    .discriminatedUnion("type", [
      z.looseObject({ type: z.literal("text") }),
      z.looseObject({ type: z.literal("json_object") }),
      z.looseObject({
        type: z.literal("json_schema"),
        json_schema: z.looseObject({ name: functionName, description: z.string().nullish(), schema: jsonSchemaObject.nullish(), strict: z.boolean().nullish() }),
      }),
    ])
    .nullish(),
});

export const completionRequest = z.looseObject({
  ...sampling,
  prompt: z.union([z.string(), z.array(z.string()).min(1), tokenIds, z.array(tokenIds).min(1)]),
  max_tokens: int(0).nullish(),
  echo: z.boolean().nullish(),
  best_of: int(1, 20).nullish(),
  logprobs: int(0, 5).nullish(),
  suffix: z.string().nullish(),
});

export const embeddingRequest = z.looseObject({
  model: z.string().min(1).max(256),
  input: z.union([z.string(), z.array(z.string()).min(1).max(2048), tokenIds, z.array(tokenIds).min(1).max(2048)]),
  encoding_format: z.enum(["float", "base64"]).nullish(),
  dimensions: int(1).nullish(),
  user: z.string().max(512).nullish(),
});

export const REQUEST_SCHEMAS = {
  "/v1/chat/completions": chatCompletionRequest,
  "/v1/completions": completionRequest,
  "/v1/embeddings": embeddingRequest,
} as const;

/** `messages[0].content`, as OpenAI names a parameter. */
function paramName(path: readonly PropertyKey[]): string | null {
  let out = "";
  for (const p of path) out += typeof p === "number" ? `[${p}]` : out ? `.${String(p)}` : String(p);
  return out || null;
}

export function invalidValue(param: string | null, message: string): GatewayErrorBody {
  return gatewayError(400, "invalid_request_error", "invalid_value", message, param);
}

/** The body against its endpoint's schema: null when valid, else the first problem. */
export function validateRequest(endpoint: keyof typeof REQUEST_SCHEMAS, body: unknown): GatewayErrorBody | null {
  const result = REQUEST_SCHEMAS[endpoint].safeParse(body);
  if (result.success) return null;
  const issue = result.error.issues[0];
  const param = paramName(issue.path);
  return invalidValue(param, `Invalid ${param ? `'${param}'` : "request body"}: ${issue.message}.`);
}

/** What a deployment can serve, from its catalog model. */
export interface DeploymentBounds {
  contextLength: number;
  runtime: string;
}

/** Most choices per request by runtime: this platform's llama.cpp model server generates one. */
const MAX_N: Record<string, number> = { LLAMA_CPP: 1 };

/** The request within what the deployment serves (after validateRequest accepted it). */
export function checkBounds(endpoint: string, body: Record<string, unknown>, bounds: DeploymentBounds): GatewayErrorBody | null {
  if (endpoint === "/v1/embeddings") return null;
  for (const param of ["max_tokens", "max_completion_tokens"]) {
    const v = body[param];
    if (typeof v === "number" && v > bounds.contextLength) {
      return invalidValue(param, `Invalid '${param}': this model's context is ${bounds.contextLength} tokens; ask for at most that many.`);
    }
  }
  const maxN = MAX_N[bounds.runtime] ?? 128;
  if (typeof body.n === "number" && body.n > maxN) return invalidValue("n", `Invalid 'n': this deployment generates at most ${maxN} choice${maxN === 1 ? "" : "s"} per request.`);
  return null;
}
