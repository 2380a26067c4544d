import { z } from "zod";
import { dateTime, json, page } from "./common";

/** An OpenTelemetry attribute value: a scalar, or an array of one scalar type. */
const attributeValue = z.union([z.string(), z.number(), z.boolean(), z.array(z.string()), z.array(z.number()), z.array(z.boolean())]);
const attributes = z.record(z.string(), attributeValue).meta({ description: "Dotted keys: enclave.* for Enclave's own, OpenTelemetry semantic conventions (gen_ai.*, server.*, error.type) otherwise. Readers must ignore keys they do not know" });

const deploymentRef = z
  .object({ id: z.string(), name: z.string().nullable().meta({ description: "null when the deployment no longer exists" }), deleted: z.boolean() })
  .nullable()
  .meta({ description: "The deployment that answered (null when the request was refused before routing)" });
const apiKeyRef = z
  .object({ id: z.string(), name: z.string().nullable(), prefix: z.string().nullable().meta({ description: "The key's visible prefix (enc_<prefix>_…), never its secret" }), deleted: z.boolean() })
  .nullable()
  .meta({ description: "The key that made the request (null when it was refused before authentication)" });
const regionRef = z.object({ id: z.string(), code: z.string().nullable(), name: z.string().nullable() }).nullable();

const requestFields = {
  traceId: z.string().meta({ description: "32 lowercase hex digits: the W3C trace id (the caller's, or one the gateway started)" }),
  spanId: z.string().meta({ description: "The gateway's root span of this request (16 hex digits)" }),
  requestId: z.string().meta({ description: "The x-request-id answered to the client" }),
  startedAt: dateTime,
  model: z.string().nullable().meta({ description: "The model the request asked for" }),
  endpoint: z.string(),
  stream: z.boolean(),
  dataClass: z.string().nullable(),
  status: z.number().int().meta({ description: "HTTP status answered (499: the client went away)" }),
  errorCode: z.string().nullable().meta({ description: "The OpenAI-shaped error code answered, if any" }),
  durationMs: z.number(),
  ttftMs: z.number().nullable().meta({ description: "Time to first token" }),
  tokensIn: z.number().int(),
  tokensOut: z.number().int(),
  costEur: z.number(),
  deployment: deploymentRef,
  apiKey: apiKeyRef,
  region: regionRef,
};

export const traceListItem = z.object({ ...requestFields, hasContent: z.boolean().meta({ description: "The prompt and completion were stored (the key captures content)" }) });
export const traceListOutput = page(traceListItem);

const span = z.object({
  spanId: z.string(),
  parentSpanId: z.string().nullable(),
  name: z.string().meta({ description: "gateway.request, auth, residency, limits, route, upstream, apply_guardrail <check> (one per guardrail check: OpenTelemetry GenAI guardrail attributes and gen_ai.guardrail.result events); later audit.append. Readers must show names they do not know as they are" }),
  kind: z.enum(["server", "internal", "client"]),
  startMs: z.number().meta({ description: "Milliseconds from the request's startedAt" }),
  durationMs: z.number(),
  status: z.enum(["ok", "error", "unset"]),
  attributes,
  events: z.array(z.object({ name: z.string(), atMs: z.number().meta({ description: "Milliseconds from the request's startedAt" }), attributes })),
});

const verdict = z.object({
  check: z.string(),
  stage: z.string().meta({ description: "input or output" }),
  action: z.string().meta({ description: "observe, redact or block" }),
  outcome: z.string().meta({ description: "pass, flagged, redacted, blocked or error" }),
  reason: z.string().nullable().meta({ description: "Why the outcome is not a pass, as a short code (e.g. truncated, invalid_json, judge_timeout); null when none was given" }),
  findings: z.record(z.string(), json).nullable().meta({ description: "Types, counts, positions and scores only: never the personal data found" }),
  score: z.number().nullable(),
});

export const traceRequest = z.object({
  ...requestFields,
  parentSpanId: z.string().nullable().meta({ description: "The caller's span from its traceparent; null when the gateway started the trace" }),
  sampled: z.boolean(),
  recordId: z.string().meta({ description: "The usage record billed for this request" }),
  residency: z
    .object({ dataClass: z.string().nullable(), verdict: z.string().nullable().meta({ description: "allowed or refused" }),
      policy: z.string().nullable().meta({ description: "applied (the organisation's policy for this data class) or none (no policy: every region is allowed)" }),
      reasons: z.array(z.string()).meta({ description: "Why the region was refused (empty when it was allowed)" }),
    })
    .nullable()
    .meta({ description: "The residency decision, from the residency span" }),
  artifact: z
    .object({ uri: z.string().nullable(), sha256: z.string().nullable() })
    .nullable()
    .meta({ description: "The model artifact that answered, from the last route span" }),
  spans: z.array(span),
  verdicts: z.array(verdict),
  content: z
    .object({ request: json, completion: z.string().nullable() })
    .nullable()
    .meta({ description: "The prompt and completion, only when the key captures content and the caller is an Admin or Owner (or a manage key); null otherwise" }),
  contentWithheld: z.boolean().meta({ description: "Content was stored but is not shown to the caller's role" }),
});

export const traceDetail = z.object({
  traceId: z.string(),
  startedAt: dateTime,
  durationMs: z.number().meta({ description: "From the first request's start to the last one's end" }),
  requests: z.array(traceRequest).meta({ description: "Every request of your organisation in this trace, oldest first" }),
});
