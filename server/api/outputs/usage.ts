/**
 * Output schemas of the usage dashboards (routers/tenant.ts `usage.*`) and of the platform
 * administrators' dashboards (routers/admin.ts `admin.dashboard.*`), read from the roll-ups
 * (server/services/usage.ts). Money is in micro-euros; percentiles are null without data.
 */
import { z } from "zod";
import { dateTime } from "./common";

const count = z.number().int().nonnegative();
const microEur = z.number().meta({ description: "Micro-euros (1 € = 1,000,000)" });
const ms = z.number().nullable().meta({ description: "Milliseconds; null without data" });
const text = z.string();

export const latencyPercentiles = z.object({ p50: ms, p95: ms, p99: ms }).meta({ description: "Latency percentiles from the merged histograms" });
export const ttftPercentiles = z.object({ p50: ms, p95: ms }).meta({ description: "Time to first token percentiles (streamed answers)" });

// ─── Organisation ────────────────────────────────────────────────────────────

export const usageSummaryOutput = z.object({
  period: z.enum(["24h", "7d", "30d", "90d"]),
  from: dateTime.meta({ description: "The start of the first bucket" }),
  to: dateTime.meta({ description: "Now: the last bucket is the current, partial one" }),
  bucket: z.enum(["hour", "day"]).meta({ description: "Hours (UTC) for 24h and 7d, days (UTC) for 30d and 90d" }),
  totals: z.object({
    requests: count,
    errors: count.meta({ description: "Answers with status >= 400" }),
    tokensIn: count,
    tokensOut: count,
    tokenCostMicroEur: microEur,
    gpuCostMicroEur: microEur.meta({ description: "GPU time metered from running replicas, in micro-euros" }),
    costMicroEur: microEur.meta({ description: "Token cost plus GPU time, in micro-euros" }),
    latencyMs: latencyPercentiles,
    ttftMs: ttftPercentiles,
    outputTokensPerSecond: z.number().nullable().meta({ description: "Output tokens per second of generation (streamed answers); null without data" }),
  }),
  series: z
    .array(
      z.object({
        t: dateTime.meta({ description: "The bucket's start" }),
        requests: count,
        errors: count,
        tokensIn: count,
        tokensOut: count,
        costMicroEur: microEur,
        latencyMs: latencyPercentiles,
        ttftMs: ttftPercentiles,
      }),
    )
    .meta({ description: "One point per bucket of the whole period, oldest first, zero where nothing happened" }),
  errorsByStatus: z.array(z.object({ status: z.number().int(), count })).meta({ description: "Error answers by HTTP status, most frequent first" }),
});

const histogram = z.object({
  buckets: z
    .array(z.object({ leMs: z.number().nullable().meta({ description: "The bucket's upper bound in ms; null for the last (overflow) bucket" }), count }))
    .meta({ description: "Fixed logarithmic buckets (lib/histogram.ts), in ascending order" }),
  p50: ms,
  p95: ms,
  p99: ms,
});

export const usageLatencyOutput = z.object({ latency: histogram, ttft: histogram });

export const usageBreakdownOutput = z.object({
  rows: z
    .array(
      z.object({
        id: text.meta({ description: "The deployment's, key's or region's id; \"\" for none" }),
        name: text.meta({ description: "Its name; deleted ones are named as such; \"No deployment\" / \"No key\" / \"No region\" for none" }),
        requests: count,
        errors: count,
        tokensIn: count,
        tokensOut: count,
        costMicroEur: microEur.meta({ description: "Token cost plus GPU time (GPU time belongs to deployments and regions, not keys)" }),
        latencyMs: latencyPercentiles,
        ttftMs: ttftPercentiles,
      }),
    )
    .meta({ description: "Most expensive first" }),
});

const guardrailCounts = {
  checked: count.meta({ description: "Verdicts: the requests (or answers) the check ran on" }),
  passed: count,
  flagged: count.meta({ description: "Failed, recorded only (action observe)" }),
  redacted: count.meta({ description: "Failed, the data found replaced by placeholders" }),
  blocked: count.meta({ description: "Failed, the request or answer refused" }),
  errors: count.meta({ description: "The check could not decide (e.g. a judge unreachable)" }),
  failed: count.meta({ description: "flagged + redacted + blocked: the check found something, whatever its action" }),
};
const guardrailRule = z.object({
  rule: z.enum(["schema.output", "pii.input", "pii.output", "grounded.output"]).meta({ description: "The check and its stage (server/guardrails/types.ts GUARDRAIL_RULES)" }),
  check: text,
  stage: z.enum(["input", "output"]),
  ...guardrailCounts,
});
const guardrailBreakdownRow = z.object({
  id: text.meta({ description: "The deployment's or key's id; \"\" for none" }),
  name: text.meta({ description: "Its name; deleted ones are named as such; \"No deployment\" / \"No key\" for none" }),
  ...guardrailCounts,
  rules: z.array(guardrailRule).meta({ description: "Every rule, in GUARDRAIL_RULES order" }),
});

export const usageGuardrailsOutput = z.object({
  period: z.enum(["24h", "7d", "30d", "90d"]),
  from: dateTime.meta({ description: "The start of the first bucket" }),
  to: dateTime.meta({ description: "Now: the last bucket is the current, partial one" }),
  bucket: z.enum(["hour", "day"]),
  totals: z.object(guardrailCounts).meta({ description: "Over every rule" }),
  rules: z.array(guardrailRule).meta({ description: "Every rule, in GUARDRAIL_RULES order, zero where no verdict was recorded" }),
  byDeployment: z.array(guardrailBreakdownRow).meta({ description: "Deployments with at least one verdict, most failures first" }),
  byKey: z.array(guardrailBreakdownRow).meta({ description: "API keys with at least one verdict, most failures first" }),
  series: z
    .array(z.object({ t: dateTime.meta({ description: "The bucket's start" }), checked: count, flagged: count, redacted: count, blocked: count, errors: count }))
    .meta({ description: "Verdicts over every rule, one point per bucket of the whole period, oldest first, zero where nothing happened" }),
});

// ─── Platform administration ─────────────────────────────────────────────────

const gpuCount = z.number().int().nonnegative().meta({ description: "GPUs: the bucket's highest sample" });

export const capacityDashboardOutput = z.object({
  series: z.array(
    z.object({
      regionId: text,
      regionCode: text,
      regionName: text,
      gpuTypeId: text,
      gpuTypeName: text,
      points: z
        .array(z.object({ t: dateTime, allocated: gpuCount, capacity: gpuCount }))
        .meta({ description: "One point per hour (24h, 7d) or day (30d, 90d) of the period that has a sample, oldest first; none where no sample was taken" }),
    }),
  ),
});

export const organizationsDashboardOutput = z.object({
  rows: z
    .array(
      z.object({
        orgId: text,
        slug: text,
        name: text,
        regionId: text.meta({ description: "The deployment's region; \"\" for requests refused before routing" }),
        regionCode: text.meta({ description: "\"\" for requests refused before routing" }),
        requests: count,
        errors: count,
        costMicroEur: microEur.meta({ description: "Token cost plus GPU time, in micro-euros" }),
      }),
    )
    .meta({ description: "One row per organisation × region, most expensive first" }),
});

export const slowestDeploymentsOutput = z.object({
  rows: z
    .array(
      z.object({
        deploymentId: text,
        deploymentName: text,
        orgId: text,
        orgSlug: text,
        orgName: text,
        regionCode: text,
        requests: count,
        latencyMs: latencyPercentiles,
        ttftMs: z.object({ p95: ms }),
      }),
    )
    .meta({ description: "Slowest p95 latency first" }),
});
