/** Output schemas of the route procedures (routers/model-routes.ts, docs/routes.md). */
import { z } from "zod";
import { MODEL_ROUTE_MODES } from "../../../lib/model-routes";
import { dateTime } from "./common";
import { dataClassification } from "./tenant";

const text = z.string();

const member = z.object({
  position: z.number().int().meta({ description: "Preference order, 0 first" }),
  weight: z.number().int().meta({ description: "Share of the traffic in WEIGHTED mode" }),
  deploymentId: text,
  deploymentName: text,
  phase: text,
  live: z.boolean().meta({ description: "False once the deployment is deleted: the gateway skips it" }),
  deploymentDataClassification: dataClassification.meta({ description: "The class the deployment was made for: the strictest it takes" }),
  model: text,
  modelFamily: text,
  region: z.object({ id: text, code: text, name: text, jurisdiction: text }),
  dataClasses: z
    .array(z.object({ dataClassification, allowed: z.boolean(), reasons: z.array(text) }))
    .meta({ description: "Per data class, whether the gateway may send such a request to this member (residency policy and the deployment's class), with the reasons when not" }),
});

export const modelRouteOutput = z.object({
  id: text,
  name: text.meta({ description: "The `model` programs send" }),
  mode: z.enum(MODEL_ROUTE_MODES),
  dataClassification: dataClassification.meta({ description: "The data class of a request that sends no X-Data-Classification header" }),
  maxInFlightPerReplica: z.number().int(),
  createdAt: dateTime,
  updatedAt: dateTime,
  members: z.array(member),
});

export const modelRouteList = z.array(modelRouteOutput);

export const modelRouteDeleted = z.object({ id: text, name: text, deleted: z.literal(true) });
