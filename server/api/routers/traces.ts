import { z } from "zod";
import { roleAtLeast } from "../../roles";
import { getTrace, listTraces, TRACE_ID, type TraceStatusFilter } from "../../services/traces";
import { pageInput } from "../outputs/common";
import { traceDetail, traceListOutput } from "../outputs/traces";
import { id } from "../schemas";
import { orgProcedure, router } from "../trpc";

const traceId = z
  .string({ error: "traceId is required: 32 lowercase hexadecimal digits" })
  .regex(TRACE_ID, "traceId must be 32 lowercase hexadecimal digits, as in a W3C traceparent (00-<trace id>-<span id>-01)")
  .meta({ description: "32 lowercase hex digits", example: "4bf92f3577b34da6a3ce929d0e0e4736" });

/** An RFC 3339 instant in the query string (or from the console), read as a Date. */
const instant = (name: string) =>
  z
    .string({ error: `${name} must be a date and time (RFC 3339, e.g. 2026-12-01T00:00:00Z)` })
    .max(40, `${name} is too long for a date and time`)
    .pipe(z.iso.datetime({ offset: true, error: `${name} must be a date and time (RFC 3339, e.g. 2026-12-01T00:00:00Z)` }))
    .transform((value) => new Date(value))
    .meta({ type: "string", format: "date-time" });

const status = z
  .string({ error: "status is ok, error or an HTTP status such as 429" })
  .regex(/^(ok|error|[1-5][0-9]{2})$/, "status is ok (answered below 400), error (400 and above) or an HTTP status such as 429")
  .transform((value): TraceStatusFilter => (value === "ok" || value === "error" ? value : Number(value)))
  .meta({ description: "ok (below 400), error (400 and above) or one HTTP status", example: "error" });

/** A deployment or key id as a filter: ids are letters, digits, "-" and "_", so anything else is a mistake worth saying. */
const filterId = (name: string) => id(name).regex(/^[A-Za-z0-9_-]+$/, `${name} is an id: letters, digits, "-" and "_" only`);

const tags = ["Traces"];

export const tracesRouter = router({
  list: orgProcedure
    .meta({
      openapi: {
        method: "GET",
        path: "/orgs/{orgId}/traces",
        tags,
        summary: "List traced requests",
        description: "Every request through the gateway, newest first, filtered by deployment, key, status, time (from inclusive, to exclusive) or trace id; paged with cursors.",
      },
    })
    .input(
      pageInput.extend({
        deploymentId: filterId("deploymentId").optional(),
        apiKeyId: filterId("apiKeyId").optional(),
        status: status.optional(),
        from: instant("from").optional(),
        to: instant("to").optional(),
        traceId: traceId.optional(),
      }),
    )
    .output(traceListOutput)
    .query(({ ctx, input }) => listTraces(ctx.org.id, input)),

  get: orgProcedure
    .meta({
      openapi: {
        method: "GET",
        path: "/orgs/{orgId}/traces/{traceId}",
        tags,
        summary: "Read a trace",
        description: "Every request of your organisation in this W3C trace, with its spans (timings relative to the request's start), the residency decision, the model artifact's digest, guardrail verdicts and, when the key captures content, the prompt and completion (to Admins and Owners, and manage keys, only).",
      },
    })
    .input(z.object({ traceId }))
    .output(traceDetail)
    // Prompts and completions may hold personal data: shown to those who may turn their capture on.
    .query(({ ctx, input }) => getTrace(ctx.org.id, input.traceId, { withContent: roleAtLeast(ctx.role, "ADMIN") })),
});
