import { z } from "zod";
import {
  createDeployment,
  deleteDeployment,
  deploymentOptions,
  getDeployment,
  listDeployments,
  retryDeployment,
  rollbackDeployment,
  scaleDeployment,
  startDeployment,
  stopDeployment,
  updateDeploymentModel,
} from "../../services/deployments";
import { dataClassification, deploymentInput, id, replicaCount } from "../schemas";
import { pageInput, pageOf } from "../outputs/common";
import { deploymentCreated, deploymentDetail, deploymentOptions as deploymentOptionsOutput, deploymentPage, deploymentRef } from "../outputs/deployments";
import { orgProcedure, router } from "../trpc";
import { getAutoscaling, setAutoscaling } from "../../services/autoscaling";
import { autoscalingView } from "../outputs/autoscaling";
import { AUTOSCALING_PERIODS_HOURS, autoscalingPolicyInput } from "../../../lib/autoscaling";

const target = z.object({ deploymentId: id("deploymentId") });
const tags = ["Deployments"];
const at = (path: string) => `/orgs/{orgId}/deployments${path}` as const;

export const deploymentsRouter = router({
  list: orgProcedure
    .meta({ openapi: { method: "GET", path: at(""), tags, summary: "List deployments", description: "Newest first; deleted deployments are left out." } })
    .input(pageInput)
    .output(deploymentPage)
    .query(async ({ ctx, input }) => pageOf(await listDeployments(ctx.org.id), input)),

  get: orgProcedure
    .meta({ openapi: { method: "GET", path: at("/{deploymentId}"), tags, summary: "Read a deployment", description: "Its desired and observed state, replicas, conditions, recent events and price." } })
    .input(target)
    .output(deploymentDetail)
    .query(({ ctx, input }) => getDeployment(ctx.org.id, input.deploymentId)),

  options: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/deployment-options", tags, summary: "Where a model can be deployed", description: "Every region with, for each GPU type the model fits, GPUs per replica, price and free capacity; refused regions say why." } })
    .output(deploymentOptionsOutput)
    .input(z.object({ catalogModelId: id("catalogModelId"), dataClassification }))
    .query(({ ctx, input }) => deploymentOptions(ctx.org.id, input)),

  create: orgProcedure
    .requires("MEMBER")
    .meta({ openapi: { method: "POST", path: at(""), tags, summary: "Create a deployment", description: "Reserves the GPUs at once (quota and region capacity); the workers then start the replicas." } })
    .output(deploymentCreated)
    .input(deploymentInput)
    .mutation(({ ctx, input }) => createDeployment(ctx.org.id, ctx.actor, input)),

  scale: orgProcedure
    .requires("MEMBER")
    .meta({ openapi: { method: "POST", path: at("/{deploymentId}/scale"), tags, summary: "Scale a deployment" } })
    .output(deploymentRef)
    .input(target.extend({ replicas: replicaCount("Replicas") }))
    .mutation(({ ctx, input }) => scaleDeployment(ctx.org.id, ctx.actor, input)),
  stop: orgProcedure.requires("MEMBER").meta({ openapi: { method: "POST", path: at("/{deploymentId}/stop"), tags, summary: "Stop a deployment", description: "Stops its replicas and releases its GPUs." } }).output(deploymentRef).input(target).mutation(({ ctx, input }) => stopDeployment(ctx.org.id, ctx.actor, input)),
  start: orgProcedure.requires("MEMBER").meta({ openapi: { method: "POST", path: at("/{deploymentId}/start"), tags, summary: "Start a stopped deployment", description: "Reserves its GPUs again." } }).output(deploymentRef).input(target).mutation(({ ctx, input }) => startDeployment(ctx.org.id, ctx.actor, input)),
  retry: orgProcedure.requires("MEMBER").meta({ openapi: { method: "POST", path: at("/{deploymentId}/retry"), tags, summary: "Retry a failed deployment" } }).output(deploymentRef).input(target).mutation(({ ctx, input }) => retryDeployment(ctx.org.id, ctx.actor, input)),
  update: orgProcedure
    .requires("MEMBER")
    .meta({ openapi: { method: "PATCH", path: at("/{deploymentId}"), tags, summary: "Move a deployment to another model version", description: "A rolling update to a new revision." } })
    .output(deploymentRef)
    .input(target.extend({ catalogModelId: id("catalogModelId") }))
    .mutation(({ ctx, input }) => updateDeploymentModel(ctx.org.id, ctx.actor, input)),
  rollback: orgProcedure.requires("MEMBER").meta({ openapi: { method: "POST", path: at("/{deploymentId}/rollback"), tags, summary: "Roll back to the previous model version" } }).output(deploymentRef).input(target).mutation(({ ctx, input }) => rollbackDeployment(ctx.org.id, ctx.actor, input)),
  autoscaling: orgProcedure
    .meta({ openapi: { method: "GET", path: at("/{deploymentId}/autoscaling"), tags, summary: "Read a deployment's autoscaling", description: "Its policy, the load signal now (summed over every gateway), replicas and signal over the period, and the GPU-hours saved compared with staying at max." } })
    .input(target.extend({ hours: z.coerce.number().refine((h) => (AUTOSCALING_PERIODS_HOURS as readonly number[]).includes(h), `Period must be one of ${AUTOSCALING_PERIODS_HOURS.join(", ")} hours`).default(24) }))
    .output(autoscalingView)
    .query(({ ctx, input }) => getAutoscaling(ctx.org.id, input)),
  setAutoscaling: orgProcedure
    .requires("MEMBER")
    .meta({ openapi: { method: "PUT", path: at("/{deploymentId}/autoscaling"), tags, summary: "Set a deployment's autoscaling policy", description: "Min (0 allows scale to zero) and max replicas, target in-flight requests per replica, stabilisation windows and idle timeout. The max must fit the organisation's quota." } })
    .input(autoscalingPolicyInput)
    .output(deploymentRef)
    .mutation(({ ctx, input }) => setAutoscaling(ctx.org.id, ctx.actor, input)),
  delete: orgProcedure.requires("ADMIN").meta({ openapi: { method: "DELETE", path: at("/{deploymentId}"), tags, summary: "Delete a deployment", description: "Stops it, releases its GPUs and removes it from lists; its usage and audit history stay." } }).output(deploymentRef).input(target).mutation(({ ctx, input }) => deleteDeployment(ctx.org.id, ctx.actor, input)),
});
