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
import { userActor } from "../context";
import { id } from "../schemas";
import { orgProcedure, router } from "../trpc";

const dataClassification = z.enum(["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"], { message: "Choose a data classification" });
const replicaCount = (what: string) => z.number({ message: `${what} must be a number` }).int(`${what} must be a whole number`).min(1, `${what} must be at least 1`).max(64, `${what} must be at most 64`);
// The name programs pass as `model`: DNS-label-like so it is safe in URLs, logs and cluster names.
const deploymentName = z
  .string()
  .trim()
  .min(2, "Use at least 2 characters")
  .max(48, "Use at most 48 characters")
  .regex(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/, "Use lower-case letters, digits and dashes, starting and ending with a letter or digit");
const target = z.object({ deploymentId: id("deploymentId") });

export const deploymentsRouter = router({
  list: orgProcedure.query(({ ctx }) => listDeployments(ctx.org.id)),

  get: orgProcedure.input(target).query(({ ctx, input }) => getDeployment(ctx.org.id, input.deploymentId)),

  options: orgProcedure
    .input(z.object({ catalogModelId: id("catalogModelId"), dataClassification }))
    .query(({ ctx, input }) => deploymentOptions(ctx.org.id, input)),

  create: orgProcedure
    .requires("MEMBER")
    .input(
      z.object({
        name: deploymentName,
        catalogModelId: id("catalogModelId"),
        regionId: id("regionId"),
        gpuTypeId: id("gpuTypeId"),
        replicas: replicaCount("Replicas"),
        minReplicas: replicaCount("Minimum replicas"),
        maxReplicas: replicaCount("Maximum replicas"),
        dataClassification,
      }),
    )
    .mutation(({ ctx, input }) => createDeployment(ctx.org.id, { ...userActor(ctx, ctx.user), id: ctx.user.id }, input)),

  scale: orgProcedure
    .requires("MEMBER")
    .input(target.extend({ replicas: replicaCount("Replicas") }))
    .mutation(({ ctx, input }) => scaleDeployment(ctx.org.id, userActor(ctx, ctx.user), input)),
  stop: orgProcedure.requires("MEMBER").input(target).mutation(({ ctx, input }) => stopDeployment(ctx.org.id, userActor(ctx, ctx.user), input)),
  start: orgProcedure.requires("MEMBER").input(target).mutation(({ ctx, input }) => startDeployment(ctx.org.id, userActor(ctx, ctx.user), input)),
  retry: orgProcedure.requires("MEMBER").input(target).mutation(({ ctx, input }) => retryDeployment(ctx.org.id, userActor(ctx, ctx.user), input)),
  update: orgProcedure
    .requires("MEMBER")
    .input(target.extend({ catalogModelId: id("catalogModelId") }))
    .mutation(({ ctx, input }) => updateDeploymentModel(ctx.org.id, userActor(ctx, ctx.user), input)),
  rollback: orgProcedure.requires("MEMBER").input(target).mutation(({ ctx, input }) => rollbackDeployment(ctx.org.id, userActor(ctx, ctx.user), input)),
  delete: orgProcedure.requires("ADMIN").input(target).mutation(({ ctx, input }) => deleteDeployment(ctx.org.id, userActor(ctx, ctx.user), input)),
});
