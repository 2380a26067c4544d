import { z } from "zod";
import { listCatalogModels, createCatalogModel, setCatalogModelStatus, updateCatalogModel } from "../../services/catalog";
import { auditTrail, verifyTrail } from "../../services/compliance";
import { listOrganizationsForAdmins, setOrganizationStatus } from "../../services/organizations";
import { decideQuotaRequest, listQuotaRequestsForAdmins, quotasOverview, setQuota } from "../../services/quotas";
import { createRegion, listGpuTypes, listRegionsForAdmins, setRegionStatus, updateRegion } from "../../services/regions";
import { userActor } from "../context";
import { catalogModelInput, catalogModelStatus, id, quotaDecisionInput, quotaGpus, regionInput, regionStatus, statusReason } from "../schemas";
import { adminProcedure, router } from "../trpc";

// Platform administration. Region and catalog changes are audited in the platform chain; quota
// and organisation changes in the organisation's own chain, so its members see them.
export const adminRouter = router({
  regions: adminProcedure.query(() => listRegionsForAdmins()),
  gpuTypes: adminProcedure.query(() => listGpuTypes()),
  createRegion: adminProcedure.input(regionInput).mutation(({ ctx, input }) => createRegion(userActor(ctx, ctx.user), input)),
  updateRegion: adminProcedure
    .input(regionInput.extend({ regionId: id("regionId") }))
    .mutation(({ ctx, input }) => updateRegion(userActor(ctx, ctx.user), input)),
  setRegionStatus: adminProcedure
    .input(z.object({ regionId: id("regionId"), status: regionStatus, reason: statusReason }))
    .mutation(({ ctx, input }) => setRegionStatus(userActor(ctx, ctx.user), input)),

  catalog: adminProcedure.query(() => listCatalogModels({ includeDeprecated: true })),
  createModel: adminProcedure.input(catalogModelInput).mutation(({ ctx, input }) => createCatalogModel(userActor(ctx, ctx.user), input)),
  updateModel: adminProcedure
    .input(catalogModelInput.extend({ modelId: id("modelId") }))
    .mutation(({ ctx, input }) => updateCatalogModel(userActor(ctx, ctx.user), input)),
  setModelStatus: adminProcedure
    .input(z.object({ modelId: id("modelId"), status: catalogModelStatus }))
    .mutation(({ ctx, input }) => setCatalogModelStatus(userActor(ctx, ctx.user), input)),

  quotas: adminProcedure.query(() => quotasOverview()),
  setQuota: adminProcedure
    .input(z.object({ orgId: id("orgId"), regionId: id("regionId"), gpuTypeId: id("gpuTypeId"), limitGpus: quotaGpus }))
    .mutation(({ ctx, input }) => setQuota(userActor(ctx, ctx.user), input)),
  quotaRequests: adminProcedure.query(() => listQuotaRequestsForAdmins()),
  decideQuotaRequest: adminProcedure
    .input(quotaDecisionInput)
    .mutation(({ ctx, input }) => decideQuotaRequest({ ...userActor(ctx, ctx.user), id: ctx.user.id }, input)),

  organizations: adminProcedure.query(() => listOrganizationsForAdmins()),
  setOrganizationStatus: adminProcedure
    .input(z.object({ orgId: id("orgId"), status: z.enum(["ACTIVE", "SUSPENDED"], { message: "Status must be Active or Suspended" }), reason: statusReason }))
    .mutation(({ ctx, input }) => setOrganizationStatus(userActor(ctx, ctx.user), input)),

  platformAuditTrail: adminProcedure
    .input(z.object({ cursor: id("cursor").optional(), limit: z.number().int().min(1).max(100).default(25) }))
    .query(({ input }) => auditTrail({ orgId: null }, input)),
  verifyPlatformAuditTrail: adminProcedure.query(() => verifyTrail(null)),
});
