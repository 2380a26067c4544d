import { z } from "zod";
import { dateTime, page } from "./common";

const scope = z.string().meta({ description: "inference, read or manage" });

export const apiKeySummary = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string().meta({ description: "The visible start of the key (enc_<prefix>_…); never the secret" }),
  scopes: z.array(scope),
  expiresAt: dateTime.nullable(),
  rateLimitRpm: z.number().int().nullable(),
  rateLimitTpm: z.number().int().nullable(),
  revokedAt: dateTime.nullable(),
  lastUsedAt: dateTime.nullable(),
  createdAt: dateTime,
  createdBy: z.object({ name: z.string() }),
  status: z.enum(["active", "revoked", "expired", "rotating"]),
  rotatingUntil: dateTime.nullable().meta({ description: "While rotating, the previous secret keeps working until this time" }),
  previousPrefix: z.string().nullable(),
  allowedDeployments: z.array(z.object({ id: z.string(), name: z.string().nullable(), deleted: z.boolean() })).meta({ description: "Empty: every deployment of the organisation" }),
  monthlyBudgetEur: z.number().nullable(),
  spendThisMonthEur: z.number(),
  captureContent: z.boolean().meta({ description: "Prompts and completions of this key's requests are stored in their traces" }),
});
export const apiKeyPage = page(apiKeySummary);

export const apiKeyCreated = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  key: z.string().meta({ description: "The secret, shown once: store it now. Never returned again, not even on an idempotent replay" }),
});

export const apiKeyRotated = apiKeyCreated.extend({
  previousPrefix: z.string().nullable(),
  previousSecretExpiresAt: dateTime.nullable().meta({ description: "Until when the previous secret keeps working (null: it stopped at once)" }),
});

export const apiKeyRevoked = z.object({ id: z.string(), name: z.string(), prefix: z.string(), revokedAt: dateTime.nullable() });

export const apiKeyUpdated = z.object({
  id: z.string(),
  name: z.string(),
  prefix: z.string(),
  scopes: z.array(scope),
  allowedDeploymentIds: z.array(z.string()),
  expiresAt: dateTime.nullable(),
  rateLimitRpm: z.number().int().nullable(),
  rateLimitTpm: z.number().int().nullable(),
  monthlyBudgetCents: z.number().int().nullable(),
  monthlyBudgetEur: z.number().nullable(),
  captureContent: z.boolean(),
});

export const gatewayInfo = z.object({ baseUrl: z.string().meta({ description: "The OpenAI-compatible base URL for inference (…/v1)" }) });
