import { z } from "zod";
import { dateTime } from "./common";

const policyFields = {
  enabled: z.boolean(),
  targetInFlight: z.number(),
  scaleUpWindowSeconds: z.number().int(),
  scaleDownWindowSeconds: z.number().int(),
  idleTimeoutSeconds: z.number().int(),
};

export const autoscalingView = z.object({
  deploymentId: z.string(),
  replicas: z.number().int(),
  minReplicas: z.number().int(),
  maxReplicas: z.number().int(),
  gpusPerReplica: z.number().int(),
  policy: z.object({ ...policyFields, lastActiveAt: dateTime, lastRefusal: z.string().nullable(), updatedAt: dateTime }).nullable(),
  defaults: z.object({ targetInFlight: z.number(), scaleUpWindowSeconds: z.number(), scaleDownWindowSeconds: z.number(), idleTimeoutSeconds: z.number() }),
  signal: z.object({ inFlight: z.number(), queued: z.number().int(), requests: z.number().int(), gateways: z.number().int() }).meta({ description: "The load now, summed over every live gateway process" }),
  series: z.array(z.object({ at: dateTime, replicas: z.number(), inFlight: z.number(), queued: z.number().int() })).meta({ description: "Replicas and signal over the period, at most ~240 points" }),
  savings: z.object({
    hours: z.number(),
    coveredSeconds: z.number().int(),
    gpuHoursRun: z.number(),
    gpuHoursAtMax: z.number(),
    gpuHoursSaved: z.number(),
    eurSaved: z.number(),
  }).meta({ description: "GPU-hours run over the period compared with staying at the maximum" }),
});
