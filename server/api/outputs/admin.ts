/**
 * Output schemas of the platform administration (routers/admin.ts). Shared pieces come from the
 * tenant-facing schemas (tenant.ts), so a region or a quota request reads the same in both.
 */
import { z } from "zod";
import { CatalogModelStatus, ModelRuntime } from "../../generated/prisma/enums";
import { dateTime, page } from "./common";
import {
  auditTrailOutput,
  auditVerificationOutput,
  catalogModel,
  gpuType,
  gpuTypeRef,
  orgRef,
  orgStatus,
  parameterCount,
  quotaRecord,
  quotaRequestFields,
  quotaRequestRecord,
  regionCapacity,
  regionFacts,
  regionRef,
  regionStatus,
  spend,
} from "./tenant";

const count = z.number().int();
const text = z.string();
const person = z.object({ name: text, email: text });

// ─── Regions ─────────────────────────────────────────────────────────────────

export const adminRegion = regionFacts.extend({
  driverEndpoint: text.nullable(),
  updatedAt: dateTime,
  capacities: z.array(regionCapacity),
  connection: z.object({
    connected: z.boolean(),
    misconfigured: z.boolean().meta({ description: "Credentials are set, but for another URL than the region's endpoint" }),
    reason: text.nullable(),
    missingSettings: z.array(text).meta({ description: "Names of the environment variables to set (never their values)" }),
  }),
});
export const adminRegionsOutput = z.array(adminRegion);
export const adminGpuTypesOutput = z.array(gpuType);

/** A region as saved: every stored field, with its capacity rows. */
export const savedRegion = regionFacts.extend({
  driverEndpoint: text.nullable(),
  createdAt: dateTime,
  updatedAt: dateTime,
  capacities: z.array(
    z.object({
      id: text,
      regionId: text,
      gpuTypeId: text,
      totalGpus: count,
      allocatedGpus: count,
      priceCentsPerGpuHour: count,
      updatedAt: dateTime,
      gpuType: z.object({ code: text }),
    }),
  ),
});
export const createRegionOutput = savedRegion;
export const updateRegionOutput = savedRegion;
export const setRegionStatusOutput = z.object({ id: text, code: text, status: regionStatus, statusReason: text.nullable() });

// ─── Catalog ─────────────────────────────────────────────────────────────────

export const adminCatalogOutput = z.array(catalogModel);

/** A catalog model as saved: every stored field, with the GPU types it fits and the regions it is allowed in. */
export const savedModel = catalogModel.extend({
  createdAt: dateTime,
  updatedAt: dateTime,
  fitsGpuTypes: z.array(z.object({ id: text, code: text })),
  allowedRegions: z.array(z.object({ id: text, code: text })),
});
export const createModelOutput = savedModel;
export const updateModelOutput = savedModel;
export const setModelStatusOutput = z.object({ id: text, slug: text, version: text, status: z.enum(CatalogModelStatus) });

// ─── Quotas ──────────────────────────────────────────────────────────────────

export const adminQuota = z.object({
  id: text,
  limitGpus: count,
  allocatedGpus: count,
  freeGpus: count,
  updatedAt: dateTime,
  org: orgRef,
  region: regionRef.extend({ status: regionStatus }),
  gpuType: gpuTypeRef,
  capacity: z
    .object({ totalGpus: count, allocatedGpus: count, freeGpus: count, quotaLimitGpus: count.meta({ description: "Sum of every organisation's limit there; may exceed totalGpus" }) })
    .nullable()
    .meta({ description: "The region's capacity for the GPU type; null when it no longer offers it" }),
});
export const adminQuotasOutput = page(adminQuota);
export const setQuotaOutput = quotaRecord;

export const adminQuotaRequest = quotaRequestFields.extend({
  org: orgRef,
  region: regionRef.extend({ status: regionStatus }),
  gpuType: gpuTypeRef,
  requestedBy: person,
  decidedBy: person.nullable(),
  currentLimitGpus: count.meta({ description: "The organisation's limit there now (0 without a quota)" }),
  currentAllocatedGpus: count,
});
export const adminQuotaRequestsOutput = page(adminQuotaRequest);
export const decideQuotaRequestOutput = z.object({ request: quotaRequestRecord, quota: quotaRecord.nullable().meta({ description: "The raised quota; null for a rejection" }) });

// ─── Organisations ───────────────────────────────────────────────────────────

export const adminOrganization = z.object({
  id: text,
  name: text,
  slug: text,
  status: orgStatus,
  statusReason: text.nullable(),
  createdAt: dateTime,
  members: count,
  deployments: count,
  quotaGpus: count,
  gpusInUse: count,
  spendLast30Days: spend,
});
export const adminOrganizationsOutput = page(adminOrganization);
export const setOrganizationStatusOutput = z.object({ id: text, name: text, slug: text, status: orgStatus, statusReason: text.nullable() });

// ─── Audit ───────────────────────────────────────────────────────────────────

export const platformAuditTrailOutput = auditTrailOutput;
export const verifyPlatformAuditTrailOutput = auditVerificationOutput;
