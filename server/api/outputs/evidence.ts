/** Output of the evidence of one deployment (server/services/evidence.ts, docs/evidence.md). */
import { z } from "zod";
import { dateTime, json } from "./common";
import { checkpointOutput } from "./audit";
import { guardrailsEffective } from "./guardrails";
import { dataClassification, sovereigntyLevel } from "./tenant";
import { usageGuardrailsOutput } from "./usage";

const text = z.string();
const hex64 = text.meta({ description: "64 lowercase hex digits (SHA-256)" });
const day = text.meta({ description: "A calendar day, YYYY-MM-DD" });

const certification = z.object({
  name: text.meta({ description: "What residency policies match" }),
  detailed: z.boolean().meta({ description: "false: the region lists the name, but an admin gave no issuer, scope or validity" }),
  issuer: text.nullable(),
  scope: text.nullable(),
  validFrom: day.nullable(),
  validUntil: day.nullable(),
  validToday: z.boolean().nullable().meta({ description: "Whether today is within validFrom … validUntil (UTC); null without details" }),
  validity: text.meta({ description: "The same in words, e.g. \"valid until 2027-01-14\", \"expired on 2025-12-31\"" }),
});

const artifactStatus = z.enum(["verified", "mismatch", "unverified", "not_checked"]).meta({
  description: "verified: the file's sha256 is the catalog's; mismatch: it is not (the replica was refused); unverified: the catalog has no digest; not_checked: no check recorded",
});

const replica = z.object({
  id: text,
  ordinal: z.number().int(),
  revision: z.number().int(),
  state: text,
  status: artifactStatus,
  sha256: hex64.nullable().meta({ description: "The digest of the file as read before the replica started (null when only the model server on the cluster read it)" }),
  expectedSha256: hex64.nullable().meta({ description: "The catalog's digest at the time of the check" }),
  checkedAt: dateTime.nullable(),
  checkedBy: text.nullable().meta({ description: "local-driver, model-server (Slurm jobs) or kubernetes-init-container" }),
  note: text.nullable(),
  message: text.nullable().meta({ description: "Why the replica failed, when it did" }),
});

export const deploymentEvidenceOutput = z.object({
  generatedAt: dateTime,
  deployment: z.object({ id: text, name: text, phase: text, desiredState: text, revision: z.number().int(), createdAt: dateTime, deletedAt: dateTime.nullable() }),
  region: z.object({
    id: text,
    code: text,
    name: text,
    operator: text,
    country: text,
    city: text,
    jurisdiction: text.meta({ description: "The law the operator answers to" }),
    onPremises: z.boolean(),
    certifications: z.array(certification),
    extraterritorialExposure: z.boolean(),
    exposureNote: text.nullable(),
    sovereigntyLevel: sovereigntyLevel.nullable().meta({ description: "EU Cloud Sovereignty Framework level set by the platform's admins; null when none is set" }),
  }),
  model: z.object({
    id: text,
    slug: text,
    name: text,
    version: text,
    family: text,
    license: text,
    openWeights: z.boolean(),
    openData: z.boolean(),
    origin: text,
    runtime: text,
    artifactUri: text,
    catalogSha256: hex64.nullable(),
    artifactStatus: artifactStatus.meta({ description: "Over the current revision's replicas: mismatch if any, else verified if any, else unverified, else not_checked" }),
    replicas: z.array(replica).meta({ description: "The newest 20 replicas, newest first" }),
  }),
  residency: z.object({
    dataClassification,
    status: z.enum(["compliant", "non_compliant"]),
    policy: z.enum(["applied", "none"]).meta({ description: "Whether the organisation has a residency policy for the data class" }),
    reasons: z.array(text).meta({ description: "Why the region is refused, one sentence per unmet rule; empty when compliant" }),
  }),
  guardrails: z.object({
    policy: guardrailsEffective.nullable().meta({ description: "The rules in force for requests through this deployment; null once it is deleted" }),
    verdicts: z.object({
      period: z.literal("30d").or(text),
      from: dateTime,
      to: dateTime,
      totals: usageGuardrailsOutput.shape.totals,
      rules: usageGuardrailsOutput.shape.rules,
    }),
  }),
  audit: z.object({
    chain: text,
    checkpoint: checkpointOutput.pick({ origin: true, treeSize: true, rootHash: true, time: true, note: true, witnessedAt: true }).nullable().meta({ description: "The latest signed checkpoint; null before the first" }),
    truncated: z.boolean().meta({ description: "More than 500 events: only the newest 500 are listed" }),
    events: z.array(
      z.object({
        seq: z.number().int(),
        action: text,
        actorType: text,
        actorLabel: text,
        targetType: text,
        before: json,
        after: json,
        createdAt: dateTime,
        hash: hex64.meta({ description: "The event's hash: the Merkle leaf's data" }),
        proof: z
          .object({ leafIndex: z.number().int(), treeSize: z.number().int(), leafHash: hex64, path: z.array(hex64) })
          .nullable()
          .meta({ description: "RFC 9162 inclusion proof under the checkpoint; null for an event newer than it" }),
      }),
    ),
  }),
});
