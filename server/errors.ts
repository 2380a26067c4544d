/** The kinds of expected refusal a service may raise; each transport maps them to its own status codes. */
export type DomainErrorCode = "BAD_REQUEST" | "UNAUTHORIZED" | "FORBIDDEN" | "NOT_FOUND" | "CONFLICT" | "PRECONDITION_FAILED" | "TOO_MANY_REQUESTS";

/**
 * An expected refusal with a message meant for the person who made the request; `field` names the
 * input at fault so forms can show it next to the field. Anything else that is thrown is an
 * internal error and is never shown as is. Independent of any transport: tRPC and REST map it.
 */
export class DomainError extends Error {
  readonly code: DomainErrorCode;
  readonly field?: string;
  constructor(code: DomainErrorCode, message: string, options: { field?: string } = {}) {
    super(message);
    this.name = "DomainError";
    this.code = code;
    this.field = options.field;
  }
}

export const notFound = (what: string) => new DomainError("NOT_FOUND", `${what} was not found`);
export const forbidden = (why: string) => new DomainError("FORBIDDEN", why);
export const conflict = (why: string, field?: string) => new DomainError("CONFLICT", why, { field });
export const badRequest = (why: string, field?: string) => new DomainError("BAD_REQUEST", why, { field });
export const preconditionFailed = (why: string, field?: string) => new DomainError("PRECONDITION_FAILED", why, { field });

/** Prisma's unique-constraint violation, raised when a concurrent request won a race we had checked for. */
export function isUniqueViolation(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as { code?: string }).code === "P2002";
}
