/** Output schemas of the budget and webhook procedures (routers/budgets.ts; docs/budgets.md). */
import { z } from "zod";
import { BudgetMode, WebhookDeliveryStatus } from "../../generated/prisma/enums";
import { dateTime, page } from "./common";
import { spend } from "./tenant";

const budgetMode = z.enum(BudgetMode).meta({ description: "SOFT: alerts only. HARD: every gateway refuses the organisation's calls (429) at 100 %" });

export const budgetSettings = z.object({
  monthlyBudgetEur: z.number().meta({ description: "Spend allowed per calendar month (UTC): token cost plus GPU time" }),
  mode: budgetMode,
  alertThresholds: z.array(z.number().int()).meta({ description: "Percentages of the budget at which an alert is raised, ascending" }),
});

export const budgetAlert = z.object({
  id: z.string(),
  month: z.string().meta({ description: "The calendar month (UTC) it belongs to, e.g. 2026-12" }),
  threshold: z.number().int().meta({ description: "The percentage of the budget crossed" }),
  budgetEur: z.number().meta({ description: "The budget when it was crossed" }),
  mode: budgetMode,
  spentEur: z.number().meta({ description: "What had been spent this month when the crossing was seen" }),
  createdAt: dateTime,
});

export const budgetOutput = z.object({
  budget: budgetSettings.nullable().meta({ description: "Null when the organisation has no budget" }),
  month: z.string().meta({ description: "The calendar month (UTC) the figures are for, e.g. 2026-12" }),
  resetsAt: dateTime.meta({ description: "When the next month (and its budget) starts" }),
  spend: spend.meta({ description: "Spent this month: requests (token cost) and GPU time, in euros" }),
  percentUsed: z.number().nullable().meta({ description: "Spend as a percentage of the budget; null without a budget" }),
  hardLimitReached: z.boolean().meta({ description: "A hard budget is spent: the gateways refuse calls" }),
  alerts: z.array(budgetAlert).meta({ description: "This month's alerts, lowest threshold first" }),
});

export const budgetRemoved = z.object({ removed: z.literal(true) });

export const webhook = z.object({
  id: z.string(),
  url: z.string(),
  enabled: z.boolean(),
  secretHint: z.string().meta({ description: "The signing secret's first characters, to recognise it (whsec_AbCd…)" }),
  createdAt: dateTime,
  updatedAt: dateTime,
});

export const webhookOutput = webhook.nullable();

export const webhookSaved = webhook.extend({
  secret: z
    .string()
    .nullable()
    .meta({ description: "The signing secret (whsec_…), shown once: when the webhook is created or its secret rotated; null otherwise. Enclave cannot show it again." }),
});

export const webhookRemoved = z.object({ id: z.string(), removed: z.literal(true) });

export const webhookAttempt = z.object({
  at: dateTime,
  statusCode: z.number().int().nullable().meta({ description: "The receiver's HTTP status; null when there was no answer" }),
  error: z.string().nullable().meta({ description: "Why the attempt failed; null when it succeeded (2xx)" }),
  durationMs: z.number(),
});

export const webhookDelivery = z.object({
  id: z.string(),
  eventId: z.string().meta({ description: "The event's id (the payload's `id`), the same on every attempt" }),
  eventType: z.string().meta({ description: "budget.threshold_crossed or webhook.test" }),
  status: z.enum(WebhookDeliveryStatus).meta({ description: "PENDING (retried with exponential backoff), DELIVERED, or FAILED (given up)" }),
  attempts: z.number().int(),
  nextAttemptAt: dateTime.nullable().meta({ description: "When the next attempt is due; null unless PENDING" }),
  deliveredAt: dateTime.nullable(),
  createdAt: dateTime,
  attemptLog: z.array(webhookAttempt).meta({ description: "Each attempt, oldest first" }),
});

export const webhookDeliveriesOutput = page(webhookDelivery);
