import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import { ZodError, z } from "zod";
import { db } from "../db";
import { DomainError } from "../errors";
import type { OrgRole } from "../generated/prisma/enums";
import { roleAtLeast, ROLE_LABELS } from "../roles";
import type { Context } from "./context";
import { describeZodError, maskUnexpectedError, zodFieldErrors } from "./errors";

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    const zodError = error.cause instanceof ZodError ? error.cause : null;
    return {
      ...shape,
      message: zodError ? describeZodError(zodError) : shape.message,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        // Field-level messages for forms, keyed by input path ("capacities.1.totalGpus").
        fieldErrors: zodError ? zodFieldErrors(zodError) : error instanceof DomainError && error.field ? { [error.field]: [error.message] } : undefined,
      },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

const errorBoundary = t.middleware(async ({ ctx, path, next }) => {
  const result = await next();
  if (!result.ok) return { ...result, error: maskUnexpectedError(result.error, { requestId: ctx.requestId, path }) };
  return result;
});

export const publicProcedure = t.procedure.use(errorBoundary);

/** A signed-in user, re-read from the database on every call. */
export const protectedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  if (!ctx.userId) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in to continue" });
  const user = await db.user.findUnique({ where: { id: ctx.userId }, select: { id: true, email: true, name: true, platformAdmin: true } });
  if (!user) throw new TRPCError({ code: "UNAUTHORIZED", message: "Your session has ended; sign in again" });
  return next({ ctx: { ...ctx, user } });
});

/** Platform administrators only. */
export const adminProcedure = protectedProcedure.use(({ ctx, next }) => {
  if (!ctx.user.platformAdmin) throw new TRPCError({ code: "FORBIDDEN", message: "This area is for platform administrators" });
  return next();
});

export const orgInput = z.object({ orgId: z.string().min(1, "orgId is required") });

function orgProcedureRequiring(required: OrgRole) {
  return protectedProcedure.input(orgInput).use(async ({ ctx, input, next }) => {
    const membership = await db.membership.findUnique({
      where: { orgId_userId: { orgId: input.orgId, userId: ctx.user.id } },
      select: { role: true, org: { select: { id: true, slug: true, name: true, status: true } } },
    });
    // The same answer whether the organisation exists or not: ids of other tenants reveal nothing.
    if (!membership) throw new TRPCError({ code: "FORBIDDEN", message: "You are not a member of this organisation" });
    if (!roleAtLeast(membership.role, required)) {
      throw new TRPCError({ code: "FORBIDDEN", message: `This action needs the ${ROLE_LABELS[required]} role or higher; you are ${ROLE_LABELS[membership.role]}` });
    }
    return next({ ctx: { ...ctx, org: membership.org, role: membership.role } });
  });
}

/**
 * The one tenant-scoping mechanism: the organisation id comes from the input, membership and
 * role are checked here once, and resolvers pass `ctx.org.id` to domain services.
 * `orgProcedure` admits any member; `orgProcedure.requires("ADMIN")` a minimum role.
 */
export const orgProcedure = Object.assign(orgProcedureRequiring("VIEWER"), {
  requires: (role: OrgRole) => orgProcedureRequiring(role),
});
