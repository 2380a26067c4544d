/**
 * The periods the usage dashboards cover, with the bucket each is drawn in: hours for the short
 * ones (UsageHourly), days for the long ones (UsageDaily). Imports nothing of the project.
 */
export const USAGE_PERIODS = ["24h", "7d", "30d", "90d"] as const;
export type UsagePeriod = (typeof USAGE_PERIODS)[number];

export type UsageBucket = "hour" | "day";

export const USAGE_PERIOD_SPEC: Record<UsagePeriod, { label: string; bucket: UsageBucket; buckets: number }> = {
  "24h": { label: "Last 24 hours", bucket: "hour", buckets: 24 },
  "7d": { label: "Last 7 days", bucket: "hour", buckets: 7 * 24 },
  "30d": { label: "Last 30 days", bucket: "day", buckets: 30 },
  "90d": { label: "Last 90 days", bucket: "day", buckets: 90 },
};

export const BUCKET_MS: Record<UsageBucket, number> = { hour: 3_600_000, day: 86_400_000 };
