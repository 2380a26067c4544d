/**
 * REST's one error shape, after Stripe's: `{"error": {"type", "code", "message", "param",
 * "request_id"}}`, with the HTTP status that fits. Messages are the services' own (written for a
 * person); an unexpected error was already masked by the procedure ladder and never shows a stack or SQL.
 */
import type { TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import { AccessRefusal } from "../api/access";
import { describeZodError } from "../api/errors";
import { DomainError } from "../errors";

export type ErrorType = "invalid_request_error" | "authentication_error" | "permission_error" | "idempotency_error" | "rate_limit_error" | "api_error";

export interface RestErrorBody {
  error: { type: ErrorType; code: string; message: string; param: string | null; request_id: string };
}

const STATUS: Record<string, number> = {
  PARSE_ERROR: 400,
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  METHOD_NOT_SUPPORTED: 405,
  TIMEOUT: 408,
  CONFLICT: 409,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE_CONTENT: 422,
  TOO_MANY_REQUESTS: 429,
  CLIENT_CLOSED_REQUEST: 499,
  INTERNAL_SERVER_ERROR: 500,
  NOT_IMPLEMENTED: 501,
};

const DEFAULT_CODE: Record<number, string> = {
  400: "invalid_request",
  401: "unauthenticated",
  403: "forbidden",
  404: "not_found",
  405: "method_not_allowed",
  408: "request_timeout",
  409: "conflict",
  412: "precondition_failed",
  413: "payload_too_large",
  415: "unsupported_media_type",
  422: "unprocessable",
  429: "rate_limited",
  499: "client_closed_request",
  500: "internal_error",
  501: "not_implemented",
};

export function errorType(status: number): ErrorType {
  if (status === 401) return "authentication_error";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "api_error";
  return "invalid_request_error";
}

export function restError(status: number, code: string, message: string, requestId: string, param: string | null = null): Response {
  const body: RestErrorBody = { error: { type: errorType(status), code, message, param, request_id: requestId } };
  return Response.json(body, { status, headers: { "x-request-id": requestId, "cache-control": "no-store" } });
}

/** The REST answer for an error raised by a procedure (after the ladder mapped and masked it). */
export function restErrorFromTrpc(error: TRPCError, requestId: string): Response {
  const status = STATUS[error.code] ?? 500;
  if (status >= 500) return restError(500, "internal_error", `Something went wrong on our side. Reference: ${requestId}`, requestId);
  const cause = error.cause;
  if (cause instanceof ZodError) {
    const issue = cause.issues[0];
    const param = issue ? issue.path.filter((p) => typeof p === "string" || typeof p === "number").join(".") || null : null;
    return restError(400, issue?.code === "invalid_type" && issue.input === undefined ? "parameter_missing" : "parameter_invalid", describeZodError(cause), requestId, param);
  }
  if (cause instanceof AccessRefusal) return restError(status, cause.apiCode, error.message, requestId);
  if (cause instanceof DomainError) return restError(status, DEFAULT_CODE[status] ?? "invalid_request", error.message, requestId, cause.field ?? null);
  if (error.code === "PARSE_ERROR") return restError(400, "invalid_json", "The request body is not valid JSON", requestId);
  if (error.code === "NOT_FOUND" && error.message === "Not found") return restError(404, "unknown_route", "No such operation: see /api/v1/openapi.json for the operations and their methods", requestId);
  return restError(status, DEFAULT_CODE[status] ?? "invalid_request", error.message, requestId);
}
