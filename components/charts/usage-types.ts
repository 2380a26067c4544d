// What the dashboards draw, as the usage and admin read models return it (server/api/outputs).
// Structural types, so that the charts depend on the figures and not on a router.
import type { Bucket, Instant, Period } from "./time-axis";

export interface Percentiles3 {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}
export interface Percentiles2 {
  p50: number | null;
  p95: number | null;
}

export interface UsagePoint {
  t: Instant;
  requests: number;
  errors: number;
  tokensIn: number;
  tokensOut: number;
  costMicroEur: number;
  latencyMs: Percentiles3;
  ttftMs: Percentiles2;
}

export interface UsageSummary {
  period: Period;
  from: Instant;
  to: Instant;
  bucket: Bucket;
  totals: {
    requests: number;
    errors: number;
    tokensIn: number;
    tokensOut: number;
    tokenCostMicroEur: number;
    gpuCostMicroEur: number;
    costMicroEur: number;
    latencyMs: Percentiles3;
    ttftMs: Percentiles2;
    outputTokensPerSecond: number | null;
  };
  series: UsagePoint[];
  errorsByStatus: { status: number; count: number }[];
}

/** A histogram in fixed buckets: `leMs` is the bucket's upper bound, null for the last (unbounded) one. */
export interface Distribution {
  buckets: { leMs: number | null; count: number }[];
  p50: number | null;
  p95: number | null;
  p99: number | null;
}
export interface UsageLatency {
  latency: Distribution;
  ttft: Distribution;
}

export type BreakdownBy = "deployment" | "key" | "region";
export interface BreakdownRow {
  id: string;
  name: string;
  requests: number;
  errors: number;
  tokensIn: number;
  tokensOut: number;
  costMicroEur: number;
  latencyMs: Percentiles3;
  ttftMs: Percentiles2;
}

export interface CapacitySeries {
  regionId: string;
  regionCode: string;
  regionName: string;
  gpuTypeId: string;
  gpuTypeName: string;
  points: { t: Instant; allocated: number | null; capacity: number | null }[];
}
