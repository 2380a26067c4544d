import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import type { OpenApiMeta } from "trpc-to-openapi";
import { ZodError, ZodRealError } from "zod";
import { DomainError } from "../errors";
import { userActor, type Context } from "./context";
import { describeZodError, toTransportError, zodFieldErrors } from "./errors";
import { AccessRefusal, requireApiKeyScope, requireOrgAccess, requirePlatformAdmin, requireUser } from "./access";
import { orgInput } from "./access";

/**
 * Procedure metadata: the OpenAPI operation, and `whileSuspended` for the few mutations a suspended
 * organisation may still run — taking its data out (the export: leaving must stay possible).
 */
export type ProcedureMeta = OpenApiMeta & { whileSuspended?: boolean };

const t = initTRPC
  .context<Context>()
  .meta<ProcedureMeta>()
  .create({
    transformer: superjson,
    errorFormatter({ shape, error }) {
      const zodError = error.cause instanceof ZodError ? error.cause : null;
      const domainError = error.cause instanceof DomainError ? error.cause : null;
      return {
        ...shape,
        // The person's words, without the raw input path: forms show it beside the field (fieldErrors).
        message: zodError ? (zodError.issues[0]?.message ?? "Check the highlighted fields") : shape.message,
        data: {
          code: shape.data.code,
          httpStatus: shape.data.httpStatus,
          path: shape.data.path,
          // Field-level messages for forms, keyed by input path ("capacities.1.totalGpus").
          fieldErrors: zodError ? zodFieldErrors(zodError) : domainError?.field ? { [domainError.field]: [domainError.message] } : undefined,
        },
      };
    },
  });

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Maps the services' own errors to tRPC's and masks anything unexpected (logged with the request id). */
const errorBoundary = t.middleware(async ({ ctx, path, next }) => {
  const result = await next();
  if (!result.ok) return { ...result, error: toTransportError(result.error, { requestId: ctx.requestId, path }) };
  return result;
});

/**
 * Characters no text input may hold, whatever its schema: control characters but tab and line
 * breaks (PostgreSQL cannot store NUL at all: it was a 500), bidirectional overrides and isolates
 * (text that displays other than it reads), and lone surrogates (not Unicode: stored as U+FFFD).
 */
const UNSAFE_TEXT: [RegExp, string][] = [
  [/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/, "Remove the control character (such as NUL) from this text"],
  [/[\u202A-\u202E\u2066-\u2069]/, "Remove the bidirectional override character from this text: it makes text display other than it reads"],
  [/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/, "This text is not valid Unicode (it holds a lone surrogate)"],
];

// No input of the API nests this deep; deeper JSON would exhaust the stack of any recursive walk.
const MAX_INPUT_DEPTH = 32;

function unsafeText(value: unknown, path: (string | number)[] = []): ZodError | null {
  if (path.length > MAX_INPUT_DEPTH) {
    return new ZodRealError([{ code: "custom", path: path.slice(0, 3), message: `This input is nested more than ${MAX_INPUT_DEPTH} levels deep`, input: undefined }]);
  }
  if (typeof value === "string") {
    const found = UNSAFE_TEXT.find(([pattern]) => pattern.test(value));
    // ZodRealError: the ZodError that is an Error, as parsing raises it (tRPC keeps only an Error as the cause).
    return found ? new ZodRealError([{ code: "custom", path, message: found[1], input: value }]) : null;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const error = unsafeText(item, [...path, i]);
      if (error) return error;
    }
  } else if (value !== null && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) {
      const error = unsafeText(item, [...path, key]);
      if (error) return error;
    }
  }
  return null;
}

/** Refuses unsafe text anywhere in the input, before any schema, service or query sees it. */
const textGuard = t.middleware(async ({ getRawInput, next }) => {
  const error = unsafeText(await getRawInput());
  if (error) throw new TRPCError({ code: "BAD_REQUEST", message: describeZodError(error), cause: error });
  return next();
});

export const publicProcedure = t.procedure.use(errorBoundary).use(textGuard);

/**
 * A signed-in person or an API key (the platform's public offer: regions, catalog). A key needs
 * `read` for queries and `manage` for mutations; `inference` alone opens nothing here.
 */
export const authenticatedProcedure = publicProcedure.use(async ({ ctx, type, next }) => {
  if (ctx.apiKey) {
    requireApiKeyScope(ctx.apiKey, type);
    return next({ ctx: { ...ctx, user: null } });
  }
  return next({ ctx: { ...ctx, user: await requireUser(ctx) } });
});

/** A signed-in person, re-read from the database on every call (account operations: not for keys). */
export const protectedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  if (ctx.apiKey) {
    const message = "API keys act for their organisation; this operation needs a signed-in person";
    throw new TRPCError({ code: "FORBIDDEN", message, cause: new AccessRefusal("person_only", message) });
  }
  const user = await requireUser(ctx);
  return next({ ctx: { ...ctx, user, actor: userActor(ctx, user) } });
});

/** Platform administrators only (never an API key: keys belong to an organisation). */
export const adminProcedure = protectedProcedure.use(({ ctx, next }) => {
  requirePlatformAdmin(ctx.user);
  return next();
});

function orgProcedureRequiring(required: Parameters<typeof requireOrgAccess>[1]) {
  return publicProcedure.input(orgInput).use(async ({ ctx, input, type, meta, next }) => {
    const access = await requireOrgAccess(ctx, required, input.orgId, type, { whileSuspended: meta?.whileSuspended === true });
    return next({ ctx: { ...ctx, ...access } });
  });
}

/**
 * The one tenant-scoping mechanism: the organisation (id or slug) comes from the input, membership
 * (or the key's organisation), role and scope are checked here once, a suspended organisation's
 * mutations are refused here once, and resolvers pass `ctx.org.id` and `ctx.actor` to services.
 * `orgProcedure` admits any member; `orgProcedure.requires("ADMIN")` a minimum role.
 */
export const orgProcedure = Object.assign(orgProcedureRequiring("VIEWER"), {
  requires: (role: Parameters<typeof requireOrgAccess>[1]) => orgProcedureRequiring(role),
});
