import { z } from "zod";
import { env } from "../../env";
import { API_KEY_LIMITS, API_KEY_SCOPES, createApiKey, listApiKeys, revokeApiKey, rotateApiKey, updateApiKey } from "../../services/api-keys";
import { id } from "../schemas";
import { pageInput, pageOf } from "../outputs/common";
import { apiKeyCreated, apiKeyPage, apiKeyRevoked, apiKeyRotated, apiKeyUpdated, gatewayInfo } from "../outputs/api-keys";
import { orgProcedure, router } from "../trpc";

const { rateLimitRpm, rateLimitTpm, monthlyBudgetEur, graceMinutes } = API_KEY_LIMITS;
const wholeNumber = (message: string) => z.number({ error: message }).int(message);

const keyName = z.string({ error: "Name the key" }).trim().min(1, "Name the key, e.g. after the program that will use it").max(100, "Use at most 100 characters");
const scopes = z
  .array(z.enum(API_KEY_SCOPES, { message: "A scope is inference, read or manage" }), { error: "Choose at least one scope" })
  .min(1, "Choose at least one scope");
const allowedDeploymentIds = z.array(id("Deployment id"), { error: "Choose deployments by id" }).max(200, "At most 200 deployments per key");
// A Date (tRPC) or an ISO 8601 string (REST); not a number or a boolean, which z.coerce.date took as milliseconds.
const expiresAt = z
  .preprocess((value) => (typeof value === "string" ? new Date(value) : value), z.date({ error: "Enter a valid expiry date (ISO 8601, e.g. 2027-01-31T00:00:00Z)" }))
  .meta({ type: "string", format: "date-time" });
const rpm = wholeNumber("Enter a whole number of requests per minute")
  .min(rateLimitRpm.min, "Allow at least 1 request per minute")
  .max(rateLimitRpm.max, "At most 100,000 requests per minute");
const tpm = wholeNumber("Enter a whole number of tokens per minute")
  .min(rateLimitTpm.min, "Allow at least 1 token per minute")
  .max(rateLimitTpm.max, "At most 100,000,000 tokens per minute");
const budget = z
  .number({ error: "Enter the monthly budget in euros" })
  .positive("The monthly budget must be more than €0")
  .max(monthlyBudgetEur.max, "At most €1,000,000 per month")
  .refine((eur) => Math.abs(eur * 100 - Math.round(eur * 100)) < 1e-6, "Use whole cents (at most two decimals)")
  .refine((eur) => Math.round(eur * 100) >= 1, "The monthly budget must be at least €0.01");
const captureContent = z
  .boolean({ error: "captureContent is true or false" })
  .meta({ description: "Store the prompts and completions of this key's requests in their traces (off by default)" });
const target = z.object({ apiKeyId: id("apiKeyId") });
const tags = ["API keys"];
const at = (path: string) => `/orgs/{orgId}/api-keys${path}` as const;

export const apiKeysRouter = router({
  list: orgProcedure
    .meta({ openapi: { method: "GET", path: at(""), tags, summary: "List API keys", description: "Newest first, with status, limits and this month's spend; never a secret." } })
    .input(pageInput)
    .output(apiKeyPage)
    .query(async ({ ctx, input }) => pageOf(await listApiKeys(ctx.org.id), input)),

  /** The gateway's OpenAI-compatible base URL, for the snippets shown with a new key. */
  gatewayUrl: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/gateway", tags, summary: "The inference gateway's base URL" } })
    .output(gatewayInfo)
    .query(() => ({ baseUrl: env().GATEWAY_PUBLIC_URL })),

  create: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "POST", path: at(""), tags, summary: "Create an API key", description: "The response holds the secret, once." } })
    .output(apiKeyCreated)
    .input(
      z.object({
        name: keyName,
        scopes,
        allowedDeploymentIds: allowedDeploymentIds.default([]),
        expiresAt: expiresAt.nullish(),
        rateLimitRpm: rpm.nullish(),
        rateLimitTpm: tpm.nullish(),
        monthlyBudgetEur: budget.nullish(),
        captureContent: captureContent.default(false),
      }),
    )
    .mutation(({ ctx, input }) => createApiKey(ctx.org.id, ctx.actor, input)),

  revoke: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "POST", path: at("/{apiKeyId}/revoke"), tags, summary: "Revoke an API key", description: "Effective on every gateway at once." } })
    .input(target)
    .output(apiKeyRevoked)
    .mutation(({ ctx, input }) => revokeApiKey(ctx.org.id, ctx.actor, input)),

  rotate: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "POST", path: at("/{apiKeyId}/rotate"), tags, summary: "Rotate an API key's secret", description: "The previous secret may keep working for a grace period." } })
    .output(apiKeyRotated)
    .input(
      target.extend({
        graceMinutes: wholeNumber("Enter the grace period in whole minutes")
          .min(0, "The grace period cannot be negative")
          .max(graceMinutes.max, "The grace period is at most 7 days (10,080 minutes)"),
      }),
    )
    .mutation(({ ctx, input }) => rotateApiKey(ctx.org.id, ctx.actor, input)),

  // `null` clears a limit or the expiry; a field left out is not changed.
  update: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "PATCH", path: at("/{apiKeyId}"), tags, summary: "Change an API key's name, limits, deployments, expiry or content capture", description: "A field left out is not changed; null clears a limit or the expiry." } })
    .output(apiKeyUpdated)
    .input(
      target.extend({
        name: keyName.optional(),
        rateLimitRpm: rpm.nullable().optional(),
        rateLimitTpm: tpm.nullable().optional(),
        monthlyBudgetEur: budget.nullable().optional(),
        allowedDeploymentIds: allowedDeploymentIds.optional(),
        expiresAt: expiresAt.nullable().optional(),
        captureContent: captureContent.optional(),
      }),
    )
    .mutation(({ ctx, input }) => updateApiKey(ctx.org.id, ctx.actor, input)),
});
