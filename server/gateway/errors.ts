/**
 * Errors the gateway answers with, in OpenAI's shape `{ error: { message, type, param, code } }`
 * (what the official SDKs parse), with Stripe's habit of a stable `type` and `code` and a message
 * written for the person reading it. Nothing here ever contains the presented API key.
 */
import type { ServerResponse } from "node:http";

export interface GatewayErrorBody {
  status: number;
  message: string;
  type: string;
  param: string | null;
  code: string | null;
  /** Seconds, for 429 and 503. */
  retryAfter?: number;
}

export function gatewayError(status: number, type: string, code: string | null, message: string, param: string | null = null, retryAfter?: number): GatewayErrorBody {
  return { status, type, code, message, param, retryAfter };
}

const json = (e: GatewayErrorBody) => Buffer.from(JSON.stringify({ error: { message: e.message, type: e.type, param: e.param, code: e.code } }));

/** Errors whose body never changes, serialised once. */
const precomputed = new WeakMap<GatewayErrorBody, Buffer>();
function constant(e: GatewayErrorBody): GatewayErrorBody {
  precomputed.set(e, json(e));
  return e;
}

export const ERRORS = {
  missingKey: constant(
    gatewayError(401, "invalid_request_error", "invalid_api_key", "You didn't provide an API key. Send it in the Authorization header: `Authorization: Bearer enc_…`."),
  ),
  invalidKey: constant(gatewayError(401, "invalid_request_error", "invalid_api_key", "Incorrect API key provided. You can find your API keys in the Enclave console.")),
  revokedKey: constant(gatewayError(401, "invalid_request_error", "invalid_api_key", "This API key has been revoked. Create a new key in the Enclave console.")),
  noInferenceScope: constant(
    gatewayError(403, "permission_error", "insufficient_scope", "This API key does not have the `inference` scope, which model calls need."),
  ),
  noReadScope: constant(gatewayError(403, "permission_error", "insufficient_scope", "This API key has neither the `inference` nor the `read` scope.")),
  invalidJson: constant(gatewayError(400, "invalid_request_error", "invalid_json", "The request body is not valid JSON.")),
  missingModel: constant(gatewayError(400, "invalid_request_error", "invalid_value", "You must provide a model parameter: the name of one of your deployments.", "model")),
  bodyTooLarge: constant(gatewayError(413, "invalid_request_error", "body_too_large", "The request body is too large: at most 8 MiB.")),
  jsonTooDeep: constant(gatewayError(400, "invalid_request_error", "json_too_deep", "The request body nests objects and arrays more than 64 levels deep.")),
  requestTimeout: constant(gatewayError(408, "invalid_request_error", "request_timeout", "The request did not arrive in time (headers within a few seconds, the body at a steady rate).")),
  headersTooLarge: constant(gatewayError(431, "invalid_request_error", "headers_too_large", "The request headers are too large: at most 16 KiB with the request line.")),
  uriTooLong: constant(gatewayError(414, "invalid_request_error", "uri_too_long", "The request URL is too long: at most 8 KiB.")),
  malformedRequest: constant(gatewayError(400, "invalid_request_error", "malformed_request", "The request is not valid HTTP/1.1.")),
  missingHost: constant(gatewayError(400, "invalid_request_error", "malformed_request", "An HTTP/1.1 request must carry a Host header.")),
  expectationFailed: constant(gatewayError(417, "invalid_request_error", "expectation_failed", "The only Expect the gateway answers is 100-continue.")),
  tooManyConnections: constant(
    gatewayError(429, "requests", "too_many_connections", "Too many open connections from your address. Reuse keep-alive connections, or close idle ones.", null, 1),
  ),
  upstreamBusy: constant(gatewayError(429, "requests", "rate_limit_exceeded", "The model server is busy. Retry shortly.", null, 1)),
  badClassification: constant(
    gatewayError(400, "invalid_request_error", "invalid_data_classification", "X-Data-Classification must be one of PUBLIC, INTERNAL, CONFIDENTIAL, RESTRICTED.", "X-Data-Classification"),
  ),
  upstreamFailed: constant(gatewayError(502, "server_error", "upstream_error", "The model server failed to answer. Please retry.")),
  upstreamTimeout: constant(gatewayError(504, "server_error", "upstream_timeout", "The model server took too long to answer.")),
  unavailable: constant(gatewayError(503, "server_error", "service_unavailable", "The gateway is starting or stopping; retry shortly.", null, 1)),
  internal: constant(gatewayError(500, "server_error", "internal_error", "Something went wrong in the gateway.")),
};

export function unknownUrl(method: string, path: string) {
  return gatewayError(404, "invalid_request_error", "unknown_url", `Invalid URL (${clip(method, 20)} ${clip(path)}).`);
}

export function methodNotAllowed(method: string, path: string) {
  return gatewayError(405, "invalid_request_error", "method_not_allowed", `Invalid method for URL (${clip(method, 20)} ${clip(path)}).`);
}

export function expiredKey(expiresAt: number) {
  return gatewayError(401, "invalid_request_error", "invalid_api_key", `This API key expired on ${new Date(expiresAt).toISOString()}. Create a new key in the Enclave console.`);
}

export function organizationSuspended(reason: string | null) {
  return gatewayError(403, "permission_error", "organization_suspended", `Your organisation is suspended${reason ? `: ${reason}` : ""}. Contact the platform administrators.`);
}

export function modelNotFound(model: string) {
  return gatewayError(404, "invalid_request_error", "model_not_found", `The model \`${clip(model)}\` does not exist or you do not have access to it.`, "model");
}

export function modelNotAllowed(model: string) {
  return gatewayError(403, "permission_error", "model_not_allowed", `This API key may not call the deployment \`${model}\`.`, "model");
}

export function classificationTooHigh(model: string, deployed: string, requested: string) {
  return gatewayError(
    403,
    "permission_error",
    "data_classification_not_allowed",
    `The deployment \`${model}\` was deployed for ${deployed} data; a request carrying ${requested} data needs a deployment made for ${requested} data.`,
    "X-Data-Classification",
  );
}

export function residencyRefused(model: string, dataClass: string, regionCode: string, reasons: string[]) {
  return gatewayError(
    403,
    "permission_error",
    "residency_policy_violation",
    `Your organisation's residency policy for ${dataClass} data does not allow the region ${regionCode} of \`${model}\`: ${reasons.join("; ")}.`,
    "X-Data-Classification",
  );
}

export function noHealthyReplica(model: string, phase: string) {
  return gatewayError(503, "server_error", "no_healthy_replica", `The deployment \`${model}\` has no replica ready to serve (phase ${phase}). Retry shortly.`, null, 2);
}

export function rateLimited(kind: "requests" | "tokens", limit: number, retryAfter: number) {
  return gatewayError(
    429,
    kind,
    "rate_limit_exceeded",
    `Rate limit reached for ${kind} per minute: limit ${limit}. Retry in ${retryAfter} s.`,
    null,
    retryAfter,
  );
}

export function budgetExhausted(budgetCents: number, retryAfter: number) {
  return gatewayError(
    429,
    "insufficient_quota",
    "insufficient_quota",
    `This API key has used its monthly budget of €${(budgetCents / 100).toFixed(2)}. Raise the budget in the Enclave console or wait for next month.`,
    null,
    retryAfter,
  );
}

/** The organisation's hard monthly budget is spent (docs/budgets.md): every gateway process refuses. */
export function organizationBudgetExceeded(orgName: string, budgetCents: number, retryAfter: number) {
  return gatewayError(
    429,
    "insufficient_quota",
    "organization_budget_exceeded",
    `${orgName ? `The organisation “${orgName.slice(0, 200)}”` : "Your organisation"} has used its hard monthly budget of €${(budgetCents / 100).toFixed(2)} (token cost and GPU time this month, UTC). Calls are refused until next month, or until an owner or admin raises the budget or makes it soft in the Enclave console.`,
    null,
    retryAfter,
  );
}

const SERVED: Record<string, string> = { "/v1/chat/completions": "chat completions", "/v1/completions": "text completions", "/v1/embeddings": "embeddings" };

/** The replica has no route for this endpoint (its own 404 is never relayed). */
export function modelNotSupported(model: string, endpoint: string) {
  return gatewayError(400, "invalid_request_error", "model_not_supported", `The deployment \`${model}\` does not serve ${SERVED[endpoint] ?? "this endpoint"}.`, "model");
}

export function embeddingsNotServed(model: string) {
  return modelNotSupported(model, "/v1/embeddings");
}

/**
 * A replica's 4xx, in the gateway's words: its message, code and param only when it answered in
 * OpenAI's shape (a runtime's validation message is useful to the caller), clipped; otherwise a
 * generic refusal. Nothing else of the replica's body is passed on.
 */
export function upstreamRefused(status: number, body: Buffer): GatewayErrorBody {
  let e: { message?: unknown; code?: unknown; param?: unknown } | undefined;
  try {
    e = (JSON.parse(body.toString("utf8")) as { error?: typeof e } | null)?.error;
  } catch {
    // not JSON
  }
  const word = (v: unknown) => (typeof v === "string" && /^[A-Za-z0-9_.[\]-]{1,64}$/.test(v) ? v : null);
  if (e && typeof e === "object" && typeof e.message === "string" && e.message.length > 0) {
    return gatewayError(status, "invalid_request_error", word(e.code) ?? "invalid_request", clip(e.message, 500), word(e.param));
  }
  return gatewayError(status, "invalid_request_error", "invalid_request", "The model server refused the request.");
}

/** Client-controlled text echoed in a message is cut short (it is never a key: keys are not models). */
function clip(text: string, max = 200) {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

export function sendError(res: ServerResponse, requestId: string, e: GatewayErrorBody, traceparent?: string) {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  const body = precomputed.get(e) ?? json(e);
  const headers: (string | number)[] = ["content-type", "application/json", "content-length", body.length, "x-request-id", requestId];
  if (traceparent !== undefined) headers.push("traceparent", traceparent);
  if (e.retryAfter !== undefined) headers.push("retry-after", e.retryAfter);
  res.writeHead(e.status, headers as unknown as string[]);
  res.end(body);
}

/**
 * A whole HTTP/1.1 response for an error answered on a connection with no request to answer
 * through (an unparsable request, a timeout before the headers, a refused connection): the
 * connection closes after it.
 */
export function rawErrorResponse(e: GatewayErrorBody, requestId: string, traceparent?: string): Buffer {
  const body = precomputed.get(e) ?? json(e);
  const reason = STATUS_TEXT[e.status] ?? "Error";
  const retry = e.retryAfter !== undefined ? `retry-after: ${e.retryAfter}\r\n` : "";
  const trace = traceparent !== undefined ? `traceparent: ${traceparent}\r\n` : "";
  return Buffer.concat([
    Buffer.from(`HTTP/1.1 ${e.status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nx-request-id: ${requestId}\r\n${trace}${retry}connection: close\r\n\r\n`),
    body,
  ]);
}

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  408: "Request Timeout",
  413: "Payload Too Large",
  414: "URI Too Long",
  417: "Expectation Failed",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
};

/**
 * The SSE event that ends a stream which broke after it started, or that a guardrail blocked
 * (`type` "guardrail_error"): never a silent clean end. The official SDKs raise it while iterating.
 */
export function streamErrorEvent(message: string, code: string, type = "server_error"): Buffer {
  return Buffer.from(`data: ${JSON.stringify({ error: { message, type, param: null, code } })}\n\n`);
}
