/**
 * The vocabulary of prices, budgets and webhooks that the console and the server share: bounds,
 * the input schemas (with the messages users see), and unit conversions. Imports nothing of the
 * project but lib/ (see ARCHITECTURE.md, "Layout"). docs/budgets.md explains the rules.
 */
import { z } from "./zod";

/** Micro-euros in a euro: costs are stored as integers of micro-euros. */
export const MICRO_EUR_PER_EUR = 1_000_000;

export const PRICE_LIMITS = {
  /** € per million tokens; stored as micro-euros per million tokens in a 32-bit column. */
  eurPerMillionTokens: { max: 1_000 },
} as const;

export const BUDGET_LIMITS = {
  /** Stored in cents in a 32-bit column. */
  monthlyBudgetEur: { max: 10_000_000 },
  thresholdPercent: { min: 1, max: 500 },
  thresholds: { max: 10 },
} as const;

export const BUDGET_MODES = ["SOFT", "HARD"] as const;
export type BudgetMode = (typeof BUDGET_MODES)[number];
export const BUDGET_MODE_LABELS: Record<BudgetMode, string> = { SOFT: "Soft (alerts only)", HARD: "Hard (refuse calls at 100 %)" };
export const DEFAULT_ALERT_THRESHOLDS = [50, 80, 100] as const;

/** € per million tokens (a decimal number) → integer micro-euros per million tokens. */
export const eurToMicroEur = (eur: number) => Math.round(eur * MICRO_EUR_PER_EUR);
export const microEurToEurAmount = (micro: number | bigint) => Number(micro) / MICRO_EUR_PER_EUR;

/** "€ per million tokens" with at most micro-euro precision, 0 (no per-token charge) to €1,000. */
export const tokenPriceEur = (what: "input" | "output") =>
  z
    .number({ error: `Enter the ${what} price in euros per million tokens, e.g. 0.15` })
    .min(0, `The ${what} price cannot be negative (0: ${what} tokens are not charged)`)
    .max(PRICE_LIMITS.eurPerMillionTokens.max, `At most €1,000 per million ${what} tokens`)
    .refine((eur) => Math.abs(eur * MICRO_EUR_PER_EUR - Math.round(eur * MICRO_EUR_PER_EUR)) < 1e-6, "Use at most 6 decimals (a micro-euro per million tokens)")
    .meta({ description: `Price of ${what} tokens, in euros per million tokens (stored in micro-euros)` });

export const budgetInput = z.object({
  monthlyBudgetEur: z
    .number({ error: "Enter the monthly budget in euros" })
    .positive("The monthly budget must be more than €0")
    .max(BUDGET_LIMITS.monthlyBudgetEur.max, "At most €10,000,000 per month")
    .refine((eur) => Math.abs(eur * 100 - Math.round(eur * 100)) < 1e-6, "Use whole cents (at most two decimals)")
    .refine((eur) => eur <= 0 || Math.round(eur * 100) >= 1, "The monthly budget must be at least €0.01")
    .meta({ description: "Spend allowed per calendar month (UTC): token cost plus GPU time, in euros" }),
  mode: z.enum(BUDGET_MODES, { message: "Mode is SOFT (alerts only) or HARD (every gateway refuses calls at 100 %)" }),
  alertThresholds: z
    .array(
      z
        .number({ error: "A threshold is a whole percentage of the budget, e.g. 80" })
        .int("A threshold is a whole percentage of the budget, e.g. 80")
        .min(BUDGET_LIMITS.thresholdPercent.min, "A threshold is at least 1 %")
        .max(BUDGET_LIMITS.thresholdPercent.max, "A threshold is at most 500 %"),
      { error: "Give the alert thresholds as a list of percentages, e.g. [50, 80, 100]" },
    )
    .min(1, "Give at least one alert threshold, e.g. 100")
    .max(BUDGET_LIMITS.thresholds.max, "At most 10 alert thresholds")
    .refine((list) => new Set(list).size === list.length, "Each alert threshold once")
    .transform((list) => [...list].sort((a, b) => a - b))
    .default([...DEFAULT_ALERT_THRESHOLDS])
    .meta({ description: "Percentages of the budget at which an alert is raised (console, audit trail, webhook), each at most once a month" }),
});
export type BudgetInput = z.infer<typeof budgetInput>;

export const WEBHOOK_URL_MAX = 2000;

export const webhookInput = z.object({
  url: z
    .string({ error: "Enter the URL Enclave should POST events to" })
    .trim()
    .min(1, "Enter the URL Enclave should POST events to")
    .max(WEBHOOK_URL_MAX, "Use at most 2,000 characters")
    .refine((v) => URL.canParse(v), "Enter a full URL, e.g. https://hooks.example.org/enclave")
    .meta({ description: "https:// (http:// only to this machine's loopback, in development); see docs/budgets.md for what is refused" }),
  enabled: z.boolean({ error: "enabled is true or false" }).default(true),
});
export type WebhookInput = z.infer<typeof webhookInput>;

/** The events Enclave POSTs to an organisation's webhook. */
export const WEBHOOK_EVENT_TYPES = ["budget.threshold_crossed", "webhook.test"] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
