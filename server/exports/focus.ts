/**
 * Usage as FOCUS 1.x (FinOps Open Cost and Usage Specification) rows: one row per metered gateway
 * call, the specification's columns first, then `x_` columns (FOCUS's prefix for provider-specific
 * columns) carrying what an Enclave import needs to restore the raw record exactly. Pure.
 */
import type { UsageDigestRow } from "../audit/usage-digest";
import { decodeOutcome, GUARDRAIL_OUTCOMES, GUARDRAIL_RULE_NAMES, type GuardrailOutcome, type GuardrailRule } from "../guardrails/types";

export const FOCUS_COLUMNS = [
  "BillingAccountId",
  "BillingAccountName",
  "SubAccountId",
  "SubAccountName",
  "BillingCurrency",
  "BilledCost",
  "EffectiveCost",
  "ListCost",
  "ContractedCost",
  "BillingPeriodStart",
  "BillingPeriodEnd",
  "ChargePeriodStart",
  "ChargePeriodEnd",
  "ChargeCategory",
  "ChargeClass",
  "ChargeDescription",
  "ChargeFrequency",
  "ConsumedQuantity",
  "ConsumedUnit",
  "PricingQuantity",
  "PricingUnit",
  "ProviderName",
  "PublisherName",
  "InvoiceIssuerName",
  "RegionId",
  "RegionName",
  "ResourceId",
  "ResourceName",
  "ResourceType",
  "ServiceCategory",
  "ServiceName",
  "SkuId",
  "SkuPriceId",
  "x_RecordId",
  "x_CreatedAt",
  "x_Endpoint",
  "x_TokensIn",
  "x_TokensOut",
  "x_LatencyMs",
  "x_TtftMs",
  "x_Status",
  "x_ErrorClass",
  "x_Stream",
  "x_ApiKeyPrefix",
  "x_GuardrailOutcomes",
  "x_CostMicroEur",
] as const;

export type FocusColumn = (typeof FOCUS_COLUMNS)[number];

/** A raw usage record as exported: the columns the hourly seal commits to, less the organisation. */
export type UsageRow = Omit<UsageDigestRow, "orgId" | "createdAt"> & {
  /** ISO 8601 with milliseconds, UTC. */
  createdAt: string;
};

export interface FocusContext {
  org: { id: string; name: string };
  installation: string;
  deployments: Map<string, { name: string; modelSlug: string; modelVersion: string; modelOrigin: string; regionCode: string; regionName: string }>;
  apiKeys: Map<string, { name: string; prefix: string }>;
}

const eur = (micro: number) => (micro / 1e6).toFixed(6);

/** Billing and charge periods of an hour ("2026-12-01T10"), computed once per hour: rows come in time order. */
let periodsOf: { hour: string; periods: [string, string, string, string] } | null = null;
function periods(iso: string): [string, string, string, string] {
  const hour = iso.slice(0, 13);
  if (periodsOf?.hour === hour) return periodsOf.periods;
  const start = Date.parse(`${hour}:00:00.000Z`);
  const d = new Date(start);
  const p: [string, string, string, string] = [
    new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)).toISOString(),
    new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)).toISOString(),
    d.toISOString(),
    new Date(start + 3_600_000).toISOString(),
  ];
  periodsOf = { hour, periods: p };
  return p;
}

/** "pii.input:redacted;schema.output:pass": each verdict's rule and outcome (server/guardrails/types.ts). */
export function guardrailOutcomesText(codes: number[] | null): string | null {
  if (codes === null) return null;
  return codes
    .map((c) => decodeOutcome(c))
    .map((v, i) => (v ? `${v.rule}:${v.outcome}` : `code:${codes[i]}`))
    .join(";");
}

/** The codes back from `guardrailOutcomesText` ("" is no verdict, empty cell is "none recorded"). */
export function guardrailCodes(text: string): number[] | null {
  if (text === "") return null;
  if (text === "[]") return [];
  return text.split(";").map((part) => {
    if (part.startsWith("code:")) return Number(part.slice(5));
    const [rule, outcome] = part.split(":");
    const r = GUARDRAIL_RULE_NAMES.indexOf(rule as GuardrailRule);
    const o = GUARDRAIL_OUTCOMES.indexOf(outcome as GuardrailOutcome);
    if (r < 0 || o < 0) throw new Error(`unknown guardrail outcome "${part.slice(0, 60)}"`);
    return r * 8 + o;
  });
}

export function focusRow(r: UsageRow, ctx: FocusContext): (string | number | boolean | null)[] {
  const d = r.deploymentId ? ctx.deployments.get(r.deploymentId) : undefined;
  const k = r.apiKeyId ? ctx.apiKeys.get(r.apiKeyId) : undefined;
  const cost = eur(r.costMicroEur);
  const tokens = r.tokensIn + r.tokensOut;
  const billing = periods(r.createdAt);
  const guardrails = r.guardrails === null ? null : r.guardrails.length === 0 ? "[]" : guardrailOutcomesText(r.guardrails);
  const values: Record<FocusColumn, string | number | boolean | null> = {
    BillingAccountId: ctx.org.id,
    BillingAccountName: ctx.org.name,
    SubAccountId: r.apiKeyId,
    SubAccountName: k?.name ?? null,
    BillingCurrency: "EUR",
    BilledCost: cost,
    EffectiveCost: cost,
    ListCost: cost,
    ContractedCost: cost,
    BillingPeriodStart: billing[0],
    BillingPeriodEnd: billing[1],
    ChargePeriodStart: billing[2],
    ChargePeriodEnd: billing[3],
    ChargeCategory: "Usage",
    ChargeClass: null,
    ChargeDescription: "Inference tokens (input + output)",
    ChargeFrequency: "Usage-Based",
    ConsumedQuantity: tokens,
    ConsumedUnit: "Tokens",
    PricingQuantity: tokens,
    PricingUnit: "Tokens",
    ProviderName: "Enclave",
    PublisherName: d?.modelOrigin ?? null,
    InvoiceIssuerName: ctx.installation,
    RegionId: d?.regionCode ?? null,
    RegionName: d?.regionName ?? null,
    ResourceId: r.deploymentId,
    ResourceName: d?.name ?? null,
    ResourceType: r.deploymentId ? "Model deployment" : null,
    ServiceCategory: "AI and Machine Learning",
    ServiceName: "Enclave inference",
    SkuId: d ? `${d.modelSlug}@${d.modelVersion}` : null,
    SkuPriceId: d ? `${d.modelSlug}@${d.modelVersion}:tokens` : null,
    x_RecordId: r.id,
    x_CreatedAt: r.createdAt,
    x_Endpoint: r.endpoint,
    x_TokensIn: r.tokensIn,
    x_TokensOut: r.tokensOut,
    x_LatencyMs: r.latencyMs,
    x_TtftMs: r.ttftMs,
    x_Status: r.status,
    x_ErrorClass: r.status >= 500 ? "server" : r.status >= 400 ? "client" : null,
    x_Stream: r.stream,
    x_ApiKeyPrefix: k?.prefix ?? null,
    x_GuardrailOutcomes: guardrails,
    x_CostMicroEur: r.costMicroEur,
  };
  return FOCUS_COLUMNS.map((c) => values[c]);
}

/** A usage row back from a CSV record (by the header's column positions); throws with the reason. */
export function usageRowFromFocus(record: string[], index: Map<string, number>): UsageRow {
  const get = (c: FocusColumn) => {
    const i = index.get(c);
    if (i === undefined) throw new Error(`usage/focus.csv has no ${c} column`);
    return record[i] ?? "";
  };
  const int = (c: FocusColumn) => {
    const v = Number(get(c));
    if (!Number.isInteger(v)) throw new Error(`${c} "${get(c).slice(0, 40)}" is not a whole number`);
    return v;
  };
  const num = (c: FocusColumn) => {
    const v = Number(get(c));
    if (!Number.isFinite(v)) throw new Error(`${c} "${get(c).slice(0, 40)}" is not a number`);
    return v;
  };
  const createdAt = get("x_CreatedAt");
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(createdAt)) throw new Error(`x_CreatedAt "${createdAt.slice(0, 40)}" is not an ISO 8601 UTC time`);
  const id = get("x_RecordId");
  if (!/^[0-9a-f-]{36}$/.test(id)) throw new Error(`x_RecordId "${id.slice(0, 40)}" is not a uuid`);
  return {
    id,
    createdAt,
    apiKeyId: get("SubAccountId") || null,
    deploymentId: get("ResourceId") || null,
    endpoint: get("x_Endpoint"),
    tokensIn: int("x_TokensIn"),
    tokensOut: int("x_TokensOut"),
    latencyMs: num("x_LatencyMs"),
    ttftMs: get("x_TtftMs") === "" ? null : num("x_TtftMs"),
    status: int("x_Status"),
    stream: get("x_Stream") === "true",
    costMicroEur: int("x_CostMicroEur"),
    guardrails: guardrailCodes(get("x_GuardrailOutcomes")),
  };
}
