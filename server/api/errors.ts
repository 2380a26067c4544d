import { TRPCError } from "@trpc/server";
import { ZodError } from "zod";
import { DomainError } from "../errors";
import { logger } from "../logger";

/** First zod issue as "field: message", which is what a person wants to read. */
export function describeZodError(error: ZodError): string {
  const issue = error.issues[0];
  if (!issue) return "Invalid input";
  const path = issue.path.filter((p) => typeof p === "string" || typeof p === "number").join(".");
  return path ? `${path}: ${issue.message}` : issue.message;
}

/**
 * Per-field messages keyed by the input path ("name", "capacities.1.totalGpus"), which is also
 * how a DomainError names its field. A nested message is repeated under its top-level key
 * ("capacities") for forms that show one message per group of inputs.
 */
export function zodFieldErrors(error: ZodError): Record<string, string[]> {
  const fields: Record<string, string[]> = {};
  for (const issue of error.issues) {
    const segments = issue.path.filter((p) => typeof p === "string" || typeof p === "number");
    if (segments.length === 0) continue;
    const keys = segments.length > 1 ? [segments.join("."), String(segments[0])] : [String(segments[0])];
    for (const key of keys) (fields[key] ??= []).push(issue.message);
  }
  return fields;
}

/**
 * The transport side of errors: a service's DomainError becomes the tRPC error of its kind (the
 * DomainError kept as `cause`, for the field and for REST); expected errors (bad input, auth) keep
 * their precise message; anything else is logged with the request id and replaced by a generic
 * message that leaks nothing.
 */
export function toTransportError(error: TRPCError, meta: { requestId: string; path: string }): TRPCError {
  const domain = error.cause instanceof DomainError ? error.cause : null;
  if (domain) return new TRPCError({ code: domain.code, message: domain.message, cause: domain });
  if (error.code !== "INTERNAL_SERVER_ERROR") return error;
  logger.error("unexpected error", { requestId: meta.requestId, path: meta.path, error: error.cause ?? error });
  return new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: `Something went wrong on our side. Reference: ${meta.requestId}` });
}
