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
 * Expected errors (DomainError, bad input, auth) keep their precise message; anything else is
 * logged with the request id and replaced by a generic message that leaks nothing.
 */
export function maskUnexpectedError(error: TRPCError, meta: { requestId: string; path: string }): TRPCError {
  if (error instanceof DomainError || error.code !== "INTERNAL_SERVER_ERROR") return error;
  logger.error("unexpected error", { requestId: meta.requestId, path: meta.path, error: error.cause ?? error });
  return new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: `Something went wrong on our side. Reference: ${meta.requestId}` });
}
