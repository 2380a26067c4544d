/**
 * Limits and name rules that the console checks as the user types and the server enforces.
 * Imports nothing of the project (see ARCHITECTURE.md, "Layout").
 */

/** Replicas of one deployment, and the bounds its autoscaling may use. */
export const REPLICA_LIMIT = 64;

/** The name programs pass as `model`: DNS-label-like so it is safe in URLs, logs and cluster names. */
export const DEPLOYMENT_NAME = {
  pattern: /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/,
  minLength: 2,
  maxLength: 48,
} as const;

export const API_KEY_SCOPES = ["inference", "read", "manage"] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

/** The bounds of an API key's limits. */
export const API_KEY_LIMITS = {
  rateLimitRpm: { min: 1, max: 100_000 },
  rateLimitTpm: { min: 1, max: 100_000_000 },
  // Stored in cents in a 32-bit column.
  monthlyBudgetEur: { max: 1_000_000 },
  // The longest a rotation may leave the previous secret working: 7 days.
  graceMinutes: { max: 7 * 24 * 60 },
} as const;

export const DATA_CLASSIFICATIONS = ["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"] as const;
export type DataClassification = (typeof DATA_CLASSIFICATIONS)[number];
