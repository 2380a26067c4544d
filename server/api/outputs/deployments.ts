import { z } from "zod";
import { dateTime, json, page } from "./common";

export const deploymentPhase = z.enum(["PENDING", "PROVISIONING", "RUNNING", "DEGRADED", "STOPPING", "STOPPED", "FAILED", "DELETING", "DELETED"]);
export const desiredState = z.enum(["RUNNING", "STOPPED", "DELETED"]);
export const dataClass = z.enum(["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"]);

const summaryFields = {
  id: z.string(),
  name: z.string().meta({ description: "What programs pass as `model` to the gateway" }),
  phase: deploymentPhase,
  desiredState,
  replicas: z.number().int(),
  minReplicas: z.number().int(),
  maxReplicas: z.number().int(),
  gpusPerReplica: z.number().int(),
  reservedGpus: z.number().int(),
  dataClassification: dataClass,
  endpoint: z.string().nullable(),
  revision: z.number().int(),
  createdAt: dateTime,
  updatedAt: dateTime,
  catalogModel: z.object({ id: z.string(), name: z.string(), version: z.string(), slug: z.string() }),
  region: z.object({ id: z.string(), code: z.string(), name: z.string() }),
  gpuType: z.object({ id: z.string(), code: z.string() }),
};

export const deploymentSummary = z.object(summaryFields);
export const deploymentPage = page(deploymentSummary);

export const deploymentDetail = z.object({
  ...summaryFields,
  conditions: json.meta({ description: "Observed conditions: [{ type, status, reason, message, at }]" }),
  previousModelId: z.string().nullable(),
  deletedAt: dateTime.nullable().meta({ description: "When the deletion completed; null while the deployment exists" }),
  catalogModel: z.object({ id: z.string(), name: z.string(), version: z.string(), slug: z.string(), family: z.string() }),
  replicaSet: z.array(
    z.object({
      id: z.string(),
      ordinal: z.number().int(),
      revision: z.number().int(),
      state: z.string(),
      endpoint: z.string().nullable(),
      clusterRef: z.string().nullable(),
      message: z.string().nullable(),
      startedAt: dateTime.nullable(),
      readyAt: dateTime.nullable(),
    }),
  ),
  events: z.array(z.object({ id: z.string(), type: z.string(), reason: z.string(), message: z.string(), createdAt: dateTime })),
  pricePerHourEur: z.number(),
  previousModel: z.object({ id: z.string(), name: z.string(), version: z.string() }).nullable(),
  otherVersions: z.array(z.object({ id: z.string(), name: z.string(), version: z.string() })),
});

export const deploymentOptions = z.array(
  z.object({
    region: z.object({
      id: z.string(),
      code: z.string(),
      name: z.string(),
      jurisdiction: z.string(),
      certifications: z.array(z.string()),
      extraterritorialExposure: z.boolean(),
      carbonIntensityGco2Kwh: z.number(),
      connected: z.boolean().meta({ description: "Whether this installation can drive the region's cluster" }),
    }),
    allowed: z.boolean(),
    reasons: z.array(z.string()),
    gpuOptions: z.array(
      z.object({
        gpuTypeId: z.string(),
        gpuTypeCode: z.string(),
        gpuTypeName: z.string(),
        gpusPerReplica: z.number().int(),
        priceCentsPerGpuHour: z.number().int(),
        pricePerReplicaHourEur: z.number(),
        quotaFree: z.number().int(),
        regionFree: z.number().int(),
        maxReplicas: z.number().int(),
        refusal: z.string().nullable(),
      }),
    ),
  }),
);

export const deploymentRef = z.object({ id: z.string() });

const { catalogModel: _m, region: _r, gpuType: _g, ...ownFields } = summaryFields;
/** The deployment as created: its own fields; read it for the model, region and replicas. */
export const deploymentCreated = z.object({ ...ownFields, catalogModelId: z.string(), regionId: z.string(), gpuTypeId: z.string() });
