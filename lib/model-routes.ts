/**
 * Routes (docs/routes.md) — called `ModelRoute` in code, to tell them from the gateway's
 * per-deployment `Route`: the input schemas and limits that the console's form and the API share.
 * Imports nothing of the project but lib/.
 */
import { z } from "./zod";
import { DATA_CLASSIFICATIONS, DEPLOYMENT_NAME } from "./limits";

export const MODEL_ROUTE_MODES = ["PRIORITY", "WEIGHTED"] as const;
export type ModelRouteMode = (typeof MODEL_ROUTE_MODES)[number];

export const MODEL_ROUTE_LIMITS = {
  /** Members of one route. */
  members: { min: 1, max: 16 },
  weight: { min: 1, max: 100 },
  /** Requests in flight per replica (per gateway process) beyond which a member is saturated. */
  maxInFlightPerReplica: { min: 1, max: 1024, default: 4 },
} as const;

/** The gateway's channel: payload the organisation's id; every gateway reloads its routes. */
export const MODEL_ROUTES_CHANNEL = "enclave_model_routes";

export const MODEL_ROUTE_MODE_LABELS: Record<ModelRouteMode, string> = {
  PRIORITY: "Priority: first compliant member with room, overflow to the next",
  WEIGHTED: "Weighted: compliant members with room share the traffic by weight",
};

/** A route's name is a `model` like a deployment's: the same rule, and they share one namespace. */
export const modelRouteName = z
  .string({ error: "Name the route" })
  .trim()
  .min(DEPLOYMENT_NAME.minLength, `Use at least ${DEPLOYMENT_NAME.minLength} characters`)
  .max(DEPLOYMENT_NAME.maxLength, `Use at most ${DEPLOYMENT_NAME.maxLength} characters`)
  .regex(DEPLOYMENT_NAME.pattern, "Use lower-case letters, digits and dashes, starting and ending with a letter or digit");

const { members, weight, maxInFlightPerReplica } = MODEL_ROUTE_LIMITS;

export const modelRouteMemberInput = z.object({
  deploymentId: z.string({ error: "Choose a deployment" }).min(1, "Choose a deployment").max(64, "deploymentId is too long"),
  weight: z
    .number({ error: "Enter a whole weight" })
    .int("Enter a whole weight")
    .min(weight.min, `A weight is at least ${weight.min}`)
    .max(weight.max, `A weight is at most ${weight.max}`)
    .default(1)
    .meta({ description: "Share of the traffic in WEIGHTED mode (1–100); ignored in PRIORITY mode" }),
});

const memberList = z
  .array(modelRouteMemberInput, { error: "List the route's deployments" })
  .min(members.min, "Add at least one deployment")
  .max(members.max, `A route has at most ${members.max} deployments`)
  .refine((list) => new Set(list.map((m) => m.deploymentId)).size === list.length, "A deployment appears twice in the route")
  .meta({ description: "The member deployments in preference order (first preferred)" });

export const modelRouteSettings = {
  mode: z.enum(MODEL_ROUTE_MODES, { message: "Mode is PRIORITY or WEIGHTED" }),
  dataClassification: z
    .enum(DATA_CLASSIFICATIONS, { message: "Data class must be Public, Internal, Confidential or Restricted" })
    .meta({ description: "The data class of a request that sends no X-Data-Classification header" }),
  maxInFlightPerReplica: z
    .number({ error: "Enter a whole number of requests" })
    .int("Enter a whole number of requests")
    .min(maxInFlightPerReplica.min, `At least ${maxInFlightPerReplica.min} request in flight per replica`)
    .max(maxInFlightPerReplica.max, `At most ${maxInFlightPerReplica.max} requests in flight per replica`)
    .meta({ description: "A member is saturated when each of its replicas has this many requests in flight" }),
  members: memberList,
};

export const modelRouteCreateInput = z.object({
  name: modelRouteName,
  mode: modelRouteSettings.mode.default("PRIORITY"),
  dataClassification: modelRouteSettings.dataClassification.default("INTERNAL"),
  maxInFlightPerReplica: modelRouteSettings.maxInFlightPerReplica.default(maxInFlightPerReplica.default),
  members: memberList,
});
export type ModelRouteCreateInput = z.infer<typeof modelRouteCreateInput>;

/** Every field optional: what is sent is changed, the rest stays. The name is fixed (programs call it). */
export const modelRouteUpdateInput = z.object({
  mode: modelRouteSettings.mode.optional(),
  dataClassification: modelRouteSettings.dataClassification.optional(),
  maxInFlightPerReplica: modelRouteSettings.maxInFlightPerReplica.optional(),
  members: memberList.optional(),
});
export type ModelRouteUpdateInput = z.infer<typeof modelRouteUpdateInput>;

type DataClass = (typeof DATA_CLASSIFICATIONS)[number];

/**
 * Why a member deployment cannot take a request of `requested` data although its region might: it
 * was made for a lower class (the gateway's rule for a deployment called by name); null when it can.
 */
export function classTooHighReason(requested: DataClass, deployedFor: DataClass): string | null {
  return DATA_CLASSIFICATIONS.indexOf(requested) > DATA_CLASSIFICATIONS.indexOf(deployedFor)
    ? `data class ${requested} is stricter than ${deployedFor}, the class the deployment was made for`
    : null;
}
