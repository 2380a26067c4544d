/**
 * The digest of one hour of an organisation's usage records, carried by the audit events
 * "usage.hour.sealed" / "usage.hour.amended" (docs/audit-log.md, "Usage hours"). Pure, so that an
 * export's verifier can recompute it from the exported rows.
 *
 * digest = SHA-256 over "enclave-usage-hour/v1\n" followed by, for each row in (createdAt, id)
 * order, the canonical JSON (sorted keys, server/audit/event-hash.ts) of its fields and "\n".
 */
import { createHash } from "node:crypto";
import { canonicalJson } from "./event-hash";

export const USAGE_DIGEST_VERSION = "enclave-usage-hour/v1";

/** The columns of UsageRecord that the digest commits to. */
export interface UsageDigestRow {
  id: string;
  createdAt: Date | string;
  orgId: string;
  apiKeyId: string | null;
  deploymentId: string | null;
  endpoint: string;
  tokensIn: number;
  tokensOut: number;
  /** PostgreSQL REAL: the float32 value as JavaScript reads it (e.g. 12.300000190734863). */
  latencyMs: number;
  ttftMs: number | null;
  status: number;
  stream: boolean;
  costMicroEur: number;
  guardrails: number[] | null;
}

/** The start of the UTC hour holding `at`. */
export function hourOf(at: Date): Date {
  return new Date(Math.floor(at.getTime() / 3_600_000) * 3_600_000);
}

export function usageHourDigest(rows: readonly UsageDigestRow[]): string {
  const sorted = rows
    .map((r) => ({ ...r, createdAt: new Date(r.createdAt) }))
    .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const hash = createHash("sha256").update(`${USAGE_DIGEST_VERSION}\n`);
  for (const r of sorted) {
    hash.update(
      `${canonicalJson({
        id: r.id,
        createdAt: r.createdAt,
        orgId: r.orgId,
        apiKeyId: r.apiKeyId,
        deploymentId: r.deploymentId,
        endpoint: r.endpoint,
        tokensIn: r.tokensIn,
        tokensOut: r.tokensOut,
        latencyMs: r.latencyMs,
        ttftMs: r.ttftMs,
        status: r.status,
        stream: r.stream,
        costMicroEur: r.costMicroEur,
        guardrails: r.guardrails ?? null,
      })}\n`,
    );
  }
  return hash.digest("hex");
}
