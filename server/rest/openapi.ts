/**
 * The OpenAPI 3.1 document of the REST API, generated from the tRPC routers (trpc-to-openapi over
 * zod-openapi), then completed with what the generator does not know: Enclave's error shape for
 * every error response, the security schemes, `Idempotency-Key` on POST, and the request id header.
 */
import { generateOpenApiDocument, type OpenAPIObject } from "trpc-to-openapi";
import { appRouter } from "../api/root";
import { REST_PREFIX } from "./handler";

const ERROR_SCHEMA = {
  type: "object",
  required: ["error"],
  additionalProperties: false,
  properties: {
    error: {
      type: "object",
      required: ["type", "code", "message", "param", "request_id"],
      additionalProperties: false,
      properties: {
        type: { type: "string", enum: ["invalid_request_error", "authentication_error", "permission_error", "idempotency_error", "rate_limit_error", "api_error"], description: "The broad class of the error" },
        code: { type: "string", description: "A stable, machine-readable code, e.g. parameter_invalid, not_found, insufficient_scope, idempotency_key_reused" },
        message: { type: "string", description: "What went wrong, written for a person" },
        param: { type: ["string", "null"], description: "The input at fault (a dotted path), when there is one" },
        request_id: { type: "string", description: "Quote it to support; also in the x-request-id header" },
      },
    },
  },
} as const;

const ERROR_DESCRIPTIONS: Record<string, string> = {
  "400": "Invalid input: a parameter is missing or invalid (see error.param)",
  "401": "No valid session or API key",
  "403": "The caller may not do this (role, key scope, another organisation, a suspended organisation)",
  "404": "Not found",
  "409": "Conflict with the current state, or an Idempotency-Key reused for another request",
  "412": "A precondition of the operation is not met",
  "413": "The request body is too large",
  "415": "The request body is not JSON",
  "500": "Internal error; nothing is revealed but a reference",
};

const MUTATION_ERRORS = ["400", "401", "403", "404", "409", "412", "413", "415", "500"];
const QUERY_ERRORS = ["400", "401", "403", "404", "500"];

let cached: OpenAPIObject | undefined;

export function openApiDocument(): OpenAPIObject {
  if (cached) return cached;
  const document = generateOpenApiDocument(appRouter, {
    title: "Enclave API",
    version: "1.0.0",
    description:
      "The control plane of Enclave, a sovereign AI platform: organisations, quotas, regions, deployments, API keys, usage and compliance. " +
      "Authenticate with an API key (`Authorization: Bearer enc_…`, scope `read` for GET, `manage` for changes) or, from the console, the session cookie. " +
      "Errors share one shape; POST accepts `Idempotency-Key`; lists that grow page with `cursor` and `limit`. The inference API (OpenAI-compatible) is served by the gateway, not here.",
    baseUrl: REST_PREFIX,
    securitySchemes: {
      apiKey: { type: "http", scheme: "bearer", bearerFormat: "enc_<prefix>_<secret>", description: "An API key of the organisation, with the read or manage scope" },
      session: { type: "apiKey", in: "cookie", name: "next-auth.session-token", description: "The console's session (changes must come from the console's origin)" },
    },
  });
  // The generator's own error schemas (tRPC's shape) are replaced by Enclave's one Error schema.
  const generated = Object.entries(document.components?.schemas ?? {}).filter(([name]) => !name.startsWith("error."));
  document.components = { ...document.components, schemas: { ...Object.fromEntries(generated), Error: ERROR_SCHEMA as never } };
  document.info.license = { name: "Proprietary", identifier: "LicenseRef-Enclave" };
  const errorResponse = (status: string) => ({ description: ERROR_DESCRIPTIONS[status]!, content: { "application/json": { schema: { $ref: "#/components/schemas/Error" } } } });
  for (const item of Object.values(document.paths ?? {})) {
    for (const method of ["get", "post", "put", "patch", "delete"] as const) {
      const operation = item[method];
      if (!operation) continue;
      const success = operation.responses?.["200"];
      const statuses = method === "get" ? QUERY_ERRORS : MUTATION_ERRORS;
      operation.responses = { "200": success, ...Object.fromEntries(statuses.map((s) => [s, errorResponse(s)])) };
      // Either scheme opens an operation; sign-up (security: []) needs none.
      operation.security = operation.security && operation.security.length > 0 ? [{ apiKey: [] }, { session: [] }] : [];
      if (method === "post") {
        operation.parameters = [
          ...(operation.parameters ?? []),
          {
            in: "header",
            name: "Idempotency-Key",
            required: false,
            description: "Makes a retry safe: the same key and body within 24 h replays the first response (header Idempotent-Replayed: true); the same key with another body is a 409",
            schema: { type: "string", minLength: 1, maxLength: 255 },
          },
        ];
      }
    }
  }
  cached = document;
  return document;
}
