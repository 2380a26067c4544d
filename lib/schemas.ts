/**
 * The zod input schemas of every operation, with the messages users see: the server validates
 * with them at the API's edge (tRPC and REST), the console's forms with the very same ones.
 * Imports nothing of the project but lib/ (see ARCHITECTURE.md, "Layout").
 */
import { z } from "./zod";
import { tokenPriceEur } from "./budgets";
import { DATA_CLASSIFICATIONS, DEPLOYMENT_NAME, REPLICA_LIMIT } from "./limits";
import { ORG_ROLES } from "./roles";
import { USAGE_PERIODS } from "./usage-periods";

export const id = (what: string) => z.string().min(1, `${what} is required`).max(64, `${what} is too long`);
export const email = z.string().trim().min(1, "Email is required").max(254).email("Enter a valid email address");
export const password = z.string().min(12, "Use at least 12 characters").max(200, "Use at most 200 characters");
export const personName = z.string().trim().min(1, "Name is required").max(100, "Use at most 100 characters");
export const organizationName = z.string().trim().min(2, "Use at least 2 characters").max(80, "Use at most 80 characters");
export const orgRole = z.enum(ORG_ROLES, { message: "Role must be one of Owner, Admin, Member, Viewer" });

// ─── GPU capacity, quotas, catalog ───────────────────────────────────────────

const wholeNumber = (message: string) => z.number({ error: message }).int(message);
const optionalText = (max: number, message: string) =>
  z
    .string()
    .trim()
    .max(max, message)
    .nullish()
    .transform((v) => v || null);
const idList = (what: string) =>
  z
    .array(id(what))
    .max(200, `At most 200 ${what}s`)
    .transform((ids) => [...new Set(ids)]);

export const capacityInput = z.object({
  gpuTypeId: id("gpuTypeId"),
  totalGpus: wholeNumber("Enter a whole number of GPUs").min(0, "The number of GPUs cannot be negative").max(100_000, "At most 100,000 GPUs per GPU type"),
  priceCentsPerGpuHour: wholeNumber("Enter the price per GPU-hour in whole cents").min(1, "The price per GPU-hour must be more than 0").max(1_000_000, "At most €10,000 per GPU-hour"),
});

/** EU Cloud Sovereignty Framework levels, as stored (SEAL_0 is shown "SEAL-0"). */
export const SOVEREIGNTY_LEVELS = ["SEAL_0", "SEAL_1", "SEAL_2", "SEAL_3", "SEAL_4"] as const;

const isoDate = (message: string) =>
  z
    .string({ error: message })
    .trim()
    .regex(/^\d{4}-\d{2}-\d{2}$/, message)
    .refine((v) => !Number.isNaN(Date.parse(`${v}T00:00:00Z`)) && new Date(`${v}T00:00:00Z`).toISOString().startsWith(v), message);

/** One certification of a region with its details (docs/evidence.md); its name is what residency policies match. */
export const certificationDetailInput = z
  .object({
    name: z.string().trim().min(1, "Name the certification, e.g. SecNumCloud").max(40, "Use at most 40 characters"),
    issuer: z.string().trim().min(1, "Name who issued it, e.g. ANSSI").max(120, "Use at most 120 characters"),
    scope: optionalText(300, "Use at most 300 characters"),
    validFrom: isoDate("Enter the start of validity as a date, e.g. 2025-01-31"),
    validUntil: isoDate("Enter the end of validity as a date, e.g. 2028-01-30").nullish().transform((v) => v ?? null),
  })
  .refine((c) => c.validUntil === null || c.validUntil > c.validFrom, { message: "The end of validity must be after its start", path: ["validUntil"] });

export const regionInput = z.object({
  code: z
    .string()
    .trim()
    .min(2, "Use at least 2 characters")
    .max(40, "Use at most 40 characters")
    .regex(/^[a-z0-9]+(-[a-z0-9]+)*$/, "Use lower-case letters, digits and hyphens, e.g. fr-par-snc"),
  name: z.string().trim().min(2, "Use at least 2 characters").max(100, "Use at most 100 characters"),
  provider: z.string().trim().min(1, "Name the operator").max(120, "Use at most 120 characters"),
  country: z.string().trim().toUpperCase().regex(/^[A-Z]{2}$/, "Use the two-letter ISO country code, e.g. FR"),
  city: z.string().trim().min(1, "City is required").max(100, "Use at most 100 characters"),
  jurisdiction: z.string().trim().toUpperCase().regex(/^[A-Z]{2}$/, "Use a two-letter code for the law the operator answers to, e.g. FR, DE, EU or US"),
  certifications: z
    .array(z.string().trim().min(1, "A certification cannot be empty").max(40, "Use at most 40 characters"))
    .max(20, "At most 20 certifications")
    .default([])
    .transform((list) => [...new Set(list)]),
  /** Details per certification; each name is added to `certifications` if it is not there (server/services/regions.ts). */
  certificationDetails: z.array(certificationDetailInput).max(20, "At most 20 certifications").default([]),
  sovereigntyLevel: z
    .enum(SOVEREIGNTY_LEVELS, { message: "The sovereignty level must be one of SEAL-0, SEAL-1, SEAL-2, SEAL-3, SEAL-4" })
    .nullish()
    .transform((v) => v ?? null),
  extraterritorialExposure: z.boolean(),
  exposureNote: optionalText(500, "Use at most 500 characters"),
  onPremises: z.boolean().default(false),
  driverKind: z.enum(["LOCAL", "SLURM", "KUBERNETES"], { message: "Driver must be Local, Slurm or Kubernetes" }),
  driverEndpoint: z
    .string()
    .trim()
    .max(500, "Use at most 500 characters")
    .nullish()
    .transform((v) => v || null)
    .refine((v) => v === null || URL.canParse(v), "Enter a URL, e.g. https://slurm.example.org:6820"),
  carbonIntensityGco2Kwh: wholeNumber("Enter a whole number of grams of CO₂ per kWh").min(0, "Carbon intensity cannot be negative").max(2_000, "At most 2,000 gCO₂/kWh"),
  capacities: z.array(capacityInput).max(50, "At most 50 GPU types per region"),
});

export const regionStatus = z.enum(["ACTIVE", "MAINTENANCE", "DRAINING", "RETIRED"], { message: "Status must be Active, Maintenance, Draining or Retired" });
export const statusReason = z.string().trim().max(500, "Use at most 500 characters").optional();

// Up to 9,223,372,036,854,775,807 (PostgreSQL bigint).
const MAX_BIGINT = 9_223_372_036_854_775_807n;

export const catalogModelInput = z.object({
  slug: z
    .string()
    .trim()
    .min(2, "Use at least 2 characters")
    .max(80, "Use at most 80 characters")
    .regex(/^[a-z0-9]+([.-][a-z0-9]+)*$/, "Use lower-case letters, digits, dots and hyphens, e.g. mistral-7b-instruct"),
  family: z.string().trim().min(1, "Family is required").max(60, "Use at most 60 characters"),
  name: z.string().trim().min(2, "Use at least 2 characters").max(120, "Use at most 120 characters"),
  version: z.string().trim().min(1, "Version is required").max(40, "Use at most 40 characters").regex(/^\S+$/, "A version has no spaces, e.g. v0.3"),
  parameterCount: z
    .string({ error: "Enter the number of parameters in digits, e.g. 9000000000" })
    .trim()
    .regex(/^\d+$/, "Enter the number of parameters in digits, e.g. 9000000000")
    .transform((digits) => BigInt(digits))
    .refine((n) => n > 0n, "The number of parameters must be more than 0")
    .refine((n) => n <= MAX_BIGINT, "That number of parameters is too large"),
  contextLength: wholeNumber("Enter a whole number of tokens").min(1, "The context length must be at least 1 token").max(100_000_000, "At most 100,000,000 tokens"),
  license: z.string().trim().min(1, "Licence is required").max(100, "Use at most 100 characters"),
  openWeights: z.boolean(),
  openData: z.boolean(),
  origin: z.string().trim().min(1, "Say who trained the model, and where").max(300, "Use at most 300 characters"),
  artifactUri: z
    .string()
    .trim()
    .max(1000, "Use at most 1,000 characters")
    .regex(/^[a-z][a-z0-9+.-]*:\/\/\S+$/, "Enter a URI such as hf://org/model, local://name or https://…"),
  artifactSha256: z
    .string()
    .trim()
    .toLowerCase()
    .nullish()
    .transform((v) => v || null)
    .refine((v) => v === null || /^[0-9a-f]{64}$/.test(v), "A SHA-256 digest is 64 hexadecimal characters"),
  runtime: z.enum(["LLAMA_CPP", "VLLM", "TGI"], { message: "Runtime must be llama.cpp, vLLM or TGI" }),
  gpuMemoryGb: wholeNumber("Enter a whole number of GB").min(1, "At least 1 GB").max(10_000, "At most 10,000 GB"),
  minGpuCount: wholeNumber("Enter a whole number of GPUs").min(1, "At least 1 GPU").max(64, "At most 64 GPUs"),
  fitsGpuTypeIds: idList("GPU type").refine((ids) => ids.length > 0, "Choose at least one GPU type the model fits on"),
  allowedRegionIds: idList("region").default([]),
  description: optionalText(2000, "Use at most 2,000 characters"),
  // Left out: 0 for a new model, unchanged on an update (docs/budgets.md).
  inputEurPerMillionTokens: tokenPriceEur("input").optional(),
  outputEurPerMillionTokens: tokenPriceEur("output").optional(),
});

export const catalogModelStatus = z.enum(["ACTIVE", "DEPRECATED"], { message: "Status must be Active or Deprecated" });

export const quotaGpus = wholeNumber("Enter a whole number of GPUs").min(0, "A quota cannot be negative").max(100_000, "At most 100,000 GPUs");

export const quotaRequestInput = z.object({
  regionId: id("regionId"),
  gpuTypeId: id("gpuTypeId"),
  additionalGpus: wholeNumber("Enter a whole number of GPUs").min(1, "Request at least 1 GPU").max(1000, "Request at most 1,000 GPUs at a time"),
  justification: z.string().trim().min(10, "Explain the need in at least 10 characters").max(2000, "Use at most 2,000 characters"),
});

export const quotaDecisionInput = z.object({
  requestId: id("requestId"),
  decision: z.enum(["approve", "partial", "reject"], { message: "Decision must be approve, partial or reject" }),
  approvedGpus: wholeNumber("Enter a whole number of GPUs").min(1, "Grant at least 1 GPU").max(1000, "At most 1,000 GPUs").optional(),
  note: z.string().trim().max(2000, "Use at most 2,000 characters").optional(),
});

export const dataClassification = z.enum(DATA_CLASSIFICATIONS, { message: "Data class must be Public, Internal, Confidential or Restricted" });

// ─── Deployments ─────────────────────────────────────────────────────────────

export const replicaCount = (what: string) =>
  z
    .number({ message: `${what} must be a number` })
    .int(`${what} must be a whole number`)
    .min(1, `${what} must be at least 1`)
    .max(REPLICA_LIMIT, `${what} must be at most ${REPLICA_LIMIT}`);

/** The name programs pass as `model`: DNS-label-like so it is safe in URLs, logs and cluster names. */
export const deploymentName = z
  .string()
  .trim()
  .min(DEPLOYMENT_NAME.minLength, `Use at least ${DEPLOYMENT_NAME.minLength} characters`)
  .max(DEPLOYMENT_NAME.maxLength, `Use at most ${DEPLOYMENT_NAME.maxLength} characters`)
  .regex(DEPLOYMENT_NAME.pattern, "Use lower-case letters, digits and dashes, starting and ending with a letter or digit");

export const deploymentInput = z.object({
  name: deploymentName,
  catalogModelId: id("catalogModelId"),
  regionId: id("regionId"),
  gpuTypeId: id("gpuTypeId"),
  replicas: replicaCount("Replicas"),
  minReplicas: replicaCount("Minimum replicas"),
  maxReplicas: replicaCount("Maximum replicas"),
  dataClassification,
});


// ─── Usage dashboards ────────────────────────────────────────────────────────

export const usagePeriod = z.enum(USAGE_PERIODS, { message: "period must be one of 24h, 7d, 30d, 90d" });
export const usageBreakdownBy = z.enum(["deployment", "key", "region"], { message: "by must be one of deployment, key, region" });
/** How many of the slowest deployments the admin dashboard lists. */
export const slowestDeploymentsLimit = z.coerce
  .number({ message: "limit must be a number" })
  .int("limit must be a whole number")
  .min(1, "limit must be at least 1")
  .max(100, "limit must be at most 100")
  .default(10);
