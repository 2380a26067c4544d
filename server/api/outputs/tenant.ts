/**
 * Output schemas of the tenant-facing platform procedures (routers/tenant.ts): regions, catalog,
 * quotas, usage and compliance. The sub-schemas are shared with the administration's (admin.ts).
 */
import { z } from "zod";
import {
  ActorType,
  CatalogModelStatus,
  DataClassification,
  DriverKind,
  ModelRuntime,
  OrgStatus,
  QuotaRequestStatus,
  RegionStatus,
  SovereigntyLevel,
} from "../../generated/prisma/enums";
import { dateTime, json, page } from "./common";

// ─── Shared pieces ───────────────────────────────────────────────────────────

const count = z.number().int();
const text = z.string();

export const regionStatus = z.enum(RegionStatus);
export const driverKind = z.enum(DriverKind);
export const orgStatus = z.enum(OrgStatus);
export const quotaRequestStatus = z.enum(QuotaRequestStatus);
export const dataClassification = z.enum(DataClassification);

export const gpuTypeRef = z.object({ id: text, code: text.meta({ description: "e.g. H100-80GB" }), name: text });
export const gpuTypeWithMemory = gpuTypeRef.extend({ memoryGb: count });
export const gpuType = gpuTypeWithMemory.extend({ vendor: text });

export const regionRef = z.object({ id: text, code: text, name: text });

/** A region's certification with its details (docs/evidence.md); `name` is also in `certifications`. */
export const certificationDetail = z.object({
  name: text,
  issuer: text.meta({ description: "Who issued or attested it, e.g. ANSSI" }),
  scope: text.nullable(),
  validFrom: text.meta({ description: "Start of validity, YYYY-MM-DD" }),
  validUntil: text.nullable().meta({ description: "End of validity, YYYY-MM-DD; null when none is stated" }),
});
export const sovereigntyLevel = z.enum(SovereigntyLevel).meta({ description: "EU Cloud Sovereignty Framework level (SEAL_0 … SEAL_4, shown SEAL-0 … SEAL-4)" });
export const orgRef = z.object({ id: text, name: text, slug: text, status: orgStatus });

/** A region's public facts: who operates it, where, under which law, with which certifications. */
export const regionFacts = z.object({
  id: text,
  code: text,
  name: text,
  provider: text,
  country: text.meta({ description: "ISO 3166-1 alpha-2" }),
  city: text,
  jurisdiction: text.meta({ description: "The law the operator answers to, e.g. FR, DE, EU, US" }),
  certifications: z.array(text).meta({ description: "Certification names, what residency policies match" }),
  certificationDetails: z.array(certificationDetail),
  sovereigntyLevel: sovereigntyLevel.nullable(),
  extraterritorialExposure: z.boolean().meta({ description: "The operator is subject to non-EU law with extraterritorial reach" }),
  exposureNote: text.nullable(),
  onPremises: z.boolean(),
  driverKind,
  status: regionStatus,
  statusReason: text.nullable(),
  carbonIntensityGco2Kwh: count,
});

/** One GPU type's hardware in a region, with its price in euro cents per GPU-hour. */
export const regionCapacity = z.object({ totalGpus: count, allocatedGpus: count, priceCentsPerGpuHour: count, gpuType: gpuTypeWithMemory });

/** Spend over a period: GPU time metered by the workers plus requests through the gateway, in euros. */
export const spend = z.object({ gpuTimeEur: z.number(), requestsEur: z.number(), totalEur: z.number() });

export const quotaRequestFields = z.object({
  id: text,
  additionalGpus: count,
  approvedGpus: count.nullable(),
  justification: text,
  status: quotaRequestStatus,
  decisionNote: text.nullable(),
  createdAt: dateTime,
  decidedAt: dateTime.nullable(),
});

/** A quota request as stored (what creating or deciding one returns). */
export const quotaRequestRecord = z.object({
  id: text,
  orgId: text,
  regionId: text,
  gpuTypeId: text,
  additionalGpus: count,
  justification: text,
  status: quotaRequestStatus,
  approvedGpus: count.nullable(),
  decisionNote: text.nullable(),
  requestedById: text,
  decidedById: text.nullable(),
  createdAt: dateTime,
  decidedAt: dateTime.nullable(),
});

/** A quota as stored (what setting or raising one returns). */
export const quotaRecord = z.object({
  id: text,
  orgId: text,
  regionId: text,
  gpuTypeId: text,
  limitGpus: count,
  allocatedGpus: count,
  createdAt: dateTime,
  updatedAt: dateTime,
});

/**
 * A catalog model's parameter count, a PostgreSQL bigint: a bigint in the process and over tRPC
 * (superjson), a string of decimal digits over REST (like the input, so no precision is lost).
 */
export const parameterCount = z.bigint().meta({
  description: "The number of parameters, in decimal digits",
  override: { type: "string", format: "int64", pattern: "^[0-9]+$", examples: ["9154707456"] },
});

export const catalogModel = z.object({
  id: text,
  slug: text,
  family: text,
  name: text,
  version: text,
  parameterCount,
  contextLength: count,
  license: text,
  openWeights: z.boolean(),
  openData: z.boolean(),
  origin: text.meta({ description: "Who trained the model, and where" }),
  artifactUri: text,
  artifactSha256: text.nullable().meta({ description: "Null until the artifact has been fetched and digested" }),
  runtime: z.enum(ModelRuntime),
  gpuMemoryGb: count,
  minGpuCount: count,
  status: z.enum(CatalogModelStatus),
  description: text.nullable(),
  inputEurPerMillionTokens: z.number().meta({ description: "Price of input (prompt) tokens, in euros per million tokens; 0: not charged per token" }),
  outputEurPerMillionTokens: z.number().meta({ description: "Price of output (completion) tokens, in euros per million tokens; 0: not charged per token" }),
  fitsGpuTypes: z.array(gpuTypeRef),
  allowedRegions: z.array(regionRef).meta({ description: "Regions the model may be deployed to; empty means every region" }),
});

export const auditEvent = z.object({
  id: text,
  seq: count,
  actorType: z.enum(ActorType),
  actorLabel: text,
  action: text.meta({ description: "e.g. quota.requested, region.updated" }),
  targetType: text,
  targetId: text.nullable(),
  before: json,
  after: json,
  ip: text.nullable(),
  createdAt: dateTime,
  hash: text,
});
export const auditTrailOutput = page(auditEvent);

export const auditVerificationOutput = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), chain: text, events: count, headHash: text.nullable() }),
  z.object({ ok: z.literal(false), chain: text, events: count, brokenAtSeq: count, reason: text }),
]);

// ─── Regions and catalog ─────────────────────────────────────────────────────

export const regionsListOutput = z.array(
  regionFacts.extend({
    capacities: z.array(regionCapacity),
    connection: z.object({ connected: z.boolean(), reason: text.nullable() }),
  }),
);

export const regionsForOrgOutput = z.array(
  regionFacts.extend({
    available: z.boolean(),
    connection: z.object({ connected: z.boolean(), reason: text.nullable() }),
    gpus: z.array(
      z.object({
        gpuType: gpuTypeWithMemory,
        priceCentsPerGpuHour: count,
        totalGpus: count,
        freeGpus: count,
        quota: z.object({ limitGpus: count, allocatedGpus: count, freeGpus: count }),
      }),
    ),
    residency: z
      .object({ dataClassification, policyDefined: z.boolean(), allowed: z.boolean(), reasons: z.array(text) })
      .nullable()
      .meta({ description: "The residency policy's verdict for the data class asked about; null without one" }),
  }),
);

export const catalogListOutput = z.array(catalogModel);

// ─── Quotas ──────────────────────────────────────────────────────────────────

export const quotasListOutput = z.object({
  quotas: z.array(
    z.object({
      id: text,
      limitGpus: count,
      allocatedGpus: count,
      freeGpus: count,
      updatedAt: dateTime,
      region: regionRef.extend({ status: regionStatus, statusReason: text.nullable() }),
      gpuType: gpuTypeRef,
    }),
  ),
  requests: z.array(quotaRequestFields.extend({ region: regionRef, gpuType: gpuTypeRef, requestedBy: z.object({ name: text }) })),
});

export const quotaRequestOutput = quotaRequestRecord;
export const cancelQuotaRequestOutput = z.object({ id: text, status: z.literal("CANCELLED") });

// Usage: outputs/usage.ts.

// ─── Compliance ──────────────────────────────────────────────────────────────

export const residencyPoliciesOutput = z.array(
  z.object({
    id: text,
    orgId: text,
    dataClassification,
    allowedJurisdictions: z.array(text),
    requiredCertifications: z.array(text),
    allowedRegionIds: z.array(text).meta({ description: "When non-empty, only these regions are allowed" }),
    allowExtraterritorial: z.boolean(),
    createdAt: dateTime,
    updatedAt: dateTime,
  }),
);
