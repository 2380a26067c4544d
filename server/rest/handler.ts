/**
 * REST under /api/v1: the same tRPC procedures (and so the same zod schemas, ladder and services),
 * served by trpc-to-openapi's fetch handler, with Enclave's error shape, request ids, a body size
 * limit and `Idempotency-Key` on POST.
 */
import type { TRPCError } from "@trpc/server";
import { createOpenApiFetchHandler } from "trpc-to-openapi";
import { contextFromRequest, nextAuthSession, RequestRefused, requestIdFrom, type SessionResolver } from "../api/http-context";
import { appRouter } from "../api/root";
import type { Context } from "../api/context";
import { db } from "../db";
import { logger } from "../logger";
import { restError, restErrorFromTrpc } from "./errors";
import { beginIdempotent, requestFingerprint } from "./idempotency";

// trpc-to-openapi serialises with JSON.stringify, which throws on BigInt (catalog parameter
// counts): REST sends them as decimal strings, as the document says. tRPC uses superjson.
(BigInt.prototype as unknown as { toJSON: () => string }).toJSON = function (this: bigint) {
  return this.toString();
};

/**
 * trpc-to-openapi turns on coercion, on every request, in the procedures' own (shared) zod
 * schemas: numbers, booleans, bigints and dates in JSON bodies. A body's "12" then passed for a
 * number and "false" became true, for REST and for tRPC alike once REST had been called. JSON
 * carries types, so the schemas stay as written: those that coerce on purpose (query strings such
 * as `limit`) say so with z.coerce, and keep doing it.
 */
function keepCoercionAsWritten(schema: unknown, seen: WeakSet<object>) {
  const def = (schema as { _zod?: { def?: Record<string, unknown> } } | null)?._zod?.def;
  if (!def || seen.has(def)) return;
  seen.add(def);
  // (Already kept when this module is loaded again, e.g. by a dev server's reload.)
  if (["number", "boolean", "bigint", "date"].includes(def.type as string) && !Object.getOwnPropertyDescriptor(def, "coerce")?.get) {
    const coerce = Boolean(def.coerce);
    Object.defineProperty(def, "coerce", { get: () => coerce, set: () => {}, enumerable: true, configurable: true });
  }
  for (const key of ["innerType", "element", "in", "out", "left", "right", "valueType", "keyType"]) keepCoercionAsWritten(def[key], seen);
  for (const option of (def.options as unknown[] | undefined) ?? []) keepCoercionAsWritten(option, seen);
  for (const member of Object.values((def.shape as Record<string, unknown> | undefined) ?? {})) keepCoercionAsWritten(member, seen);
}
const walked = new WeakSet<object>();
for (const procedure of Object.values(appRouter._def.procedures as unknown as Record<string, { _def: { inputs: unknown[] } }>)) {
  for (const input of procedure._def.inputs) keepCoercionAsWritten(input, walked);
}

export const REST_PREFIX = "/api/v1";
export const MAX_BODY_BYTES = 1024 * 1024;

/** Idempotency records are kept per organisation: the one named in the path, else the platform. */
async function idempotencyScope(pathname: string): Promise<string> {
  const match = /^\/api\/v1\/(?:admin\/)?orgs\/([^/]+)/.exec(pathname);
  if (!match) return "platform";
  const ref = decodeURIComponent(match[1]!);
  const org = await db.organization.findFirst({ where: { OR: [{ id: ref }, { slug: ref }] }, select: { id: true } });
  return org ? `org:${org.id}` : `org-ref:${ref}`;
}

const principalOf = (ctx: Context) => (ctx.apiKey ? `api_key:${ctx.apiKey.id}` : ctx.userId ? `user:${ctx.userId}` : "anonymous");

function withRequestId(response: Response, requestId: string, extra: Record<string, string> = {}): Response {
  const headers = new Headers(response.headers);
  headers.set("x-request-id", requestId);
  headers.set("cache-control", "no-store");
  for (const [k, v] of Object.entries(extra)) headers.set(k, v);
  return new Response(response.body, { status: response.status, headers });
}

/** The body as text, or null once it passes `limit` bytes (a chunked body has no length to check first). */
async function readBounded(req: Request, limit: number): Promise<string | null> {
  if (!req.body) return "";
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString("utf8");
}

export async function handleRestRequest(req: Request, options: { resolveSession?: SessionResolver } = {}): Promise<Response> {
  const requestId = requestIdFrom(req);
  let complete: ((status: number, body: unknown) => Promise<void>) | null = null;
  try {
    let ctx: Context;
    try {
      ctx = await contextFromRequest(req, requestId, options.resolveSession ?? nextAuthSession);
    } catch (error) {
      if (error instanceof RequestRefused) return restError(error.status, error.code, error.message, requestId);
      throw error;
    }

    const hasBody = !["GET", "HEAD", "DELETE", "OPTIONS"].includes(req.method);
    let body = "";
    if (hasBody) {
      const declared = Number(req.headers.get("content-length") ?? "0");
      if (declared > MAX_BODY_BYTES) return restError(413, "payload_too_large", `The request body is larger than ${MAX_BODY_BYTES} bytes`, requestId);
      const read = await readBounded(req, MAX_BODY_BYTES);
      if (read === null) return restError(413, "payload_too_large", `The request body is larger than ${MAX_BODY_BYTES} bytes`, requestId);
      body = read;
      const type = (req.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
      // An empty body (e.g. POST …/revoke) is an empty JSON object; any other body must be JSON.
      if (body.trim() === "") body = "{}";
      else if (type !== "application/json") return restError(415, "unsupported_media_type", "Send the request body as JSON (Content-Type: application/json)", requestId);
      // The body is the operation's object of fields: an array or a scalar would be spread into
      // fields named "0", "1"… and, where every field is optional (a PATCH), pass as no change.
      let parsed: unknown = {};
      try {
        parsed = JSON.parse(body);
      } catch {
        // not JSON: the handler below answers invalid_json
      }
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        return restError(400, "invalid_request", "The request body must be a JSON object of the operation's fields, e.g. {\"name\": \"…\"}", requestId);
      }
    }

    const url = new URL(req.url);
    const idempotencyKey = req.method === "POST" ? req.headers.get("idempotency-key") : null;
    if (idempotencyKey !== null) {
      const outcome = await beginIdempotent({
        scope: await idempotencyScope(url.pathname),
        key: idempotencyKey,
        principal: principalOf(ctx),
        fingerprint: requestFingerprint(req.method, url.pathname + url.search, body),
      });
      if (outcome.kind === "refuse") return restError(outcome.status, outcome.code, outcome.message, requestId, "Idempotency-Key");
      if (outcome.kind === "replay") {
        return Response.json(outcome.body, { status: outcome.status, headers: { "x-request-id": requestId, "cache-control": "no-store", "idempotent-replayed": "true" } });
      }
      complete = outcome.complete;
    }

    let failure: TRPCError | undefined;
    const headers = new Headers(req.headers);
    if (hasBody) headers.set("content-type", "application/json");
    const inner = new Request(req.url, { method: req.method, headers, body: hasBody ? body : undefined });
    const raw = await createOpenApiFetchHandler({
      endpoint: REST_PREFIX,
      req: inner,
      router: appRouter,
      createContext: () => ctx,
      onError: ({ error }) => {
        failure = error;
      },
    });
    const response = raw.status >= 400 ? (failure ? restErrorFromTrpc(failure, requestId) : restError(raw.status, "invalid_request", "The request was refused", requestId)) : withRequestId(raw, requestId);
    if (complete) {
      const stored = await response.clone().json().catch(() => null);
      await complete(response.status, stored);
    }
    return response;
  } catch (error) {
    logger.error("unexpected REST error", { requestId, path: new URL(req.url).pathname, error });
    await complete?.(500, null).catch(() => undefined);
    return restError(500, "internal_error", `Something went wrong on our side. Reference: ${requestId}`, requestId);
  }
}
