/**
 * Output schemas of the compliance dashboard (`compliance.overview`), the platform administrators'
 * view (`compliance.adminOverview`) and the report (`compliance.report`, whose schema is the
 * published one: server/services/compliance-report-schema.ts). docs/compliance.md.
 */
import { z } from "zod";
import { complianceReportSchema } from "../../services/compliance-report-schema";
import { dateTime } from "./common";
import { dataClassification, orgStatus } from "./tenant";

const count = z.number().int().nonnegative();
const text = z.string();
const share = z.number().min(0).max(1).meta({ description: "A fraction between 0 and 1" });

const checkpoint = z.object({
  chain: text,
  origin: text,
  treeSize: count,
  rootHash: text.meta({ description: "Hex SHA-256 Merkle root (RFC 6962) of the first treeSize events" }),
  time: text.meta({ description: "When the installation signed it (RFC 3339)" }),
  note: text.meta({ description: "The C2SP signed note" }),
});

const verification = z.object({
  ok: z.boolean(),
  events: count,
  brokenAtSeq: count.nullable(),
  reason: text.nullable(),
  checkedAt: dateTime,
  source: z.enum(["stored", "on_demand"]).meta({ description: "stored: the hourly job's (or a person's) last run; on_demand: none was stored, so it ran for this answer" }),
});

const guardrailCounts = {
  checked: count,
  passed: count,
  flagged: count,
  redacted: count,
  blocked: count,
  errors: count,
  failed: count.meta({ description: "flagged + redacted + blocked" }),
};

const retention = z.object({
  traceDays: count,
  usageRecordDays: count,
  minimumDays: count.meta({ description: "Six months (AI Act Art. 19(1), 26(6))" }),
  meetsMinimum: z.boolean(),
  activeKeys: count,
  keysCapturingContent: count.meta({ description: "Active API keys whose traces store prompts and completions" }),
});

export const complianceOverviewOutput = z.object({
  organization: z.object({ id: text, slug: text, name: text, status: orgStatus }),
  period: z.enum(["24h", "7d", "30d", "90d"]),
  from: dateTime,
  to: dateTime,
  bucket: z.enum(["hour", "day"]),
  deployments: z.object({
    total: count,
    compliant: count,
    nonCompliant: count,
    items: z.array(
      z.object({
        deploymentId: text,
        deploymentName: text,
        dataClassification,
        regionId: text,
        regionCode: text,
        regionName: text,
        status: z.enum(["compliant", "non_compliant"]),
        policy: z.enum(["applied", "none"]),
        reasons: z.array(text),
        extraterritorialExposure: z.boolean(),
      }),
    ).meta({ description: "Live deployments, non-compliant first" }),
  }),
  exposure: z.object({
    regions: z.array(
      z.object({
        id: text,
        code: text,
        name: text,
        jurisdiction: text,
        exposureNote: text.nullable(),
        deployments: z.array(z.object({ id: text, name: text })),
        requests: count,
        tokensIn: count,
        tokensOut: count,
      }),
    ).meta({ description: "Regions with extraterritorial exposure where the organisation has a deployment or traffic over the period" }),
    deploymentsInExposedRegions: count,
    requests: count,
    tokensIn: count,
    tokensOut: count,
    totalRequests: count,
    shareOfRequests: share,
  }),
  guardrails: z.object({
    totals: z.object(guardrailCounts),
    rules: z.array(z.object({ rule: z.enum(["schema.output", "pii.input", "pii.output", "grounded.output"]), check: text, stage: z.enum(["input", "output"]), ...guardrailCounts })),
    series: z.array(z.object({ t: dateTime, checked: count, flagged: count, redacted: count, blocked: count, errors: count })),
  }),
  audit: z.object({
    chain: text,
    events: count,
    latestCheckpoint: checkpoint.nullable(),
    lastWitnessed: checkpoint.extend({ witnessedAt: text.nullable() }).nullable().meta({ description: "The latest checkpoint countersigned by the external witness" }),
    verification,
  }),
  retention,
});

export const complianceOverviewAllOutput = z.object({
  period: z.enum(["24h", "7d", "30d", "90d"]),
  from: dateTime,
  to: dateTime,
  organizations: z.array(
    z.object({
      organization: z.object({ id: text, slug: text, name: text, status: orgStatus }),
      deployments: z.object({ total: count, compliant: count, nonCompliant: count }),
      nonCompliantDeployments: z.array(z.object({ id: text, name: text, regionCode: text, reasons: z.array(text) })),
      exposure: z.object({ regions: z.array(text), deploymentsInExposedRegions: count, requests: count, tokensIn: count, tokensOut: count, totalRequests: count, shareOfRequests: share }),
      guardrails: z.object(guardrailCounts),
      audit: z.object({
        events: count,
        latestCheckpoint: z.object({ treeSize: count, rootHash: text, time: text }).nullable(),
        lastWitnessedTreeSize: count.nullable(),
        verification,
      }),
      retention: z.object({ activeKeys: count, keysCapturingContent: count }),
    }),
  ),
  totals: z.object({
    organizations: count,
    deployments: count,
    compliant: count,
    nonCompliant: count,
    deploymentsInExposedRegions: count,
    exposedRequests: count,
    totalRequests: count,
    shareOfRequests: share,
    guardrails: z.object({ checked: count, failed: count, blocked: count, errors: count }),
    brokenChains: count,
    organizationsWithoutCheckpoint: count,
  }),
  retention,
});

export const complianceReportOutput = complianceReportSchema;
