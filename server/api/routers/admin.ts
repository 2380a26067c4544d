import { z } from "zod";
import { listCatalogModels, createCatalogModel, setCatalogModelStatus, updateCatalogModel } from "../../services/catalog";
import { auditTrail, verifyTrail } from "../../services/compliance";
import { listOrganizationsForAdmins, setOrganizationStatus } from "../../services/organizations";
import { decideQuotaRequest, listQuotaRequestsForAdmins, quotasOverview, setQuota } from "../../services/quotas";
import { createRegion, listGpuTypes, listRegionsForAdmins, setRegionStatus, updateRegion } from "../../services/regions";
import { capacityHistory, organizationsUsage, slowestDeployments } from "../../services/usage";
import { getStarterQuota, setStarterQuota } from "../../services/starter-quota";
import { getMailMessage, listOutbox } from "../../services/mail";
import { mailKind, mailMessageOutput, mailStatus, outboxOutput } from "../outputs/mail";
import { starterQuotaInput } from "../../../lib/starter-quota";
import { starterQuotaOutput } from "../outputs/onboarding";
import {
  adminCatalogOutput,
  adminGpuTypesOutput,
  adminOrganizationsOutput,
  adminQuotaRequestsOutput,
  adminQuotasOutput,
  adminRegionsOutput,
  createModelOutput,
  createRegionOutput,
  decideQuotaRequestOutput,
  platformAuditTrailOutput,
  setModelStatusOutput,
  setOrganizationStatusOutput,
  setQuotaOutput,
  setRegionStatusOutput,
  updateModelOutput,
  updateRegionOutput,
  verifyPlatformAuditTrailOutput,
} from "../outputs/admin";
import { pageInput, pageOf } from "../outputs/common";
import { capacityDashboardOutput, organizationsDashboardOutput, slowestDeploymentsOutput } from "../outputs/usage";
import { catalogModelInput, catalogModelStatus, id, quotaDecisionInput, quotaGpus, regionInput, regionStatus, slowestDeploymentsLimit, statusReason, usagePeriod } from "../schemas";
import { adminProcedure, router } from "../trpc";
import { auditPageInput } from "./tenant";

/** For procedures that take nothing: optional, so tRPC callers may still pass no input at all. */
const noInput = z.object({}).optional();

// The platform's dashboards, read from the roll-ups and the capacity samples (services/usage.ts).
const dashboardRouter = router({
  capacity: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/dashboard/capacity", tags: ["Admin: dashboards"], summary: "GPUs allocated vs capacity per region and GPU type over a period" } })
    .input(z.object({ period: usagePeriod }))
    .output(capacityDashboardOutput)
    .query(({ input }) => capacityHistory(input)),
  organizations: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/dashboard/organizations", tags: ["Admin: dashboards"], summary: "Requests, errors and spend per organisation and region over a period" } })
    .input(z.object({ period: usagePeriod }))
    .output(organizationsDashboardOutput)
    .query(({ input }) => organizationsUsage(input)),
  slowestDeployments: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/dashboard/slowest-deployments", tags: ["Admin: dashboards"], summary: "The deployments with the slowest p95 latency over a period" } })
    .input(z.object({ period: usagePeriod, limit: slowestDeploymentsLimit }))
    .output(slowestDeploymentsOutput)
    .query(({ input }) => slowestDeployments(input)),
});

// Platform administration. Region and catalog changes are audited in the platform chain; quota
// and organisation changes in the organisation's own chain, so its members see them.
export const adminRouter = router({
  regions: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/regions", tags: ["Admin: regions"], summary: "List every region" } })
    .input(noInput)
    .output(adminRegionsOutput)
    .query(() => listRegionsForAdmins()),
  gpuTypes: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/gpu-types", tags: ["Admin: regions"], summary: "List GPU types" } })
    .input(noInput)
    .output(adminGpuTypesOutput)
    .query(() => listGpuTypes()),
  createRegion: adminProcedure
    .meta({ openapi: { method: "POST", path: "/admin/regions", tags: ["Admin: regions"], summary: "Add a region" } })
    .input(regionInput)
    .output(createRegionOutput)
    .mutation(({ ctx, input }) => createRegion(ctx.actor, input)),
  updateRegion: adminProcedure
    .meta({ openapi: { method: "PUT", path: "/admin/regions/{regionId}", tags: ["Admin: regions"], summary: "Update a region and its capacity" } })
    .input(regionInput.extend({ regionId: id("regionId") }))
    .output(updateRegionOutput)
    .mutation(({ ctx, input }) => updateRegion(ctx.actor, input)),
  setRegionStatus: adminProcedure
    .meta({ openapi: { method: "POST", path: "/admin/regions/{regionId}/status", tags: ["Admin: regions"], summary: "Change a region's status" } })
    .input(z.object({ regionId: id("regionId"), status: regionStatus, reason: statusReason }))
    .output(setRegionStatusOutput)
    .mutation(({ ctx, input }) => setRegionStatus(ctx.actor, input)),

  catalog: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/catalog/models", tags: ["Admin: catalog"], summary: "List every catalog model, deprecated included" } })
    .input(noInput)
    .output(adminCatalogOutput)
    .query(() => listCatalogModels({ includeDeprecated: true })),
  createModel: adminProcedure
    .meta({ openapi: { method: "POST", path: "/admin/catalog/models", tags: ["Admin: catalog"], summary: "Add a model to the catalog" } })
    .input(catalogModelInput)
    .output(createModelOutput)
    .mutation(({ ctx, input }) => createCatalogModel(ctx.actor, input)),
  updateModel: adminProcedure
    .meta({ openapi: { method: "PUT", path: "/admin/catalog/models/{modelId}", tags: ["Admin: catalog"], summary: "Update a catalog model" } })
    .input(catalogModelInput.extend({ modelId: id("modelId") }))
    .output(updateModelOutput)
    .mutation(({ ctx, input }) => updateCatalogModel(ctx.actor, input)),
  setModelStatus: adminProcedure
    .meta({ openapi: { method: "POST", path: "/admin/catalog/models/{modelId}/status", tags: ["Admin: catalog"], summary: "Deprecate or reactivate a model" } })
    .input(z.object({ modelId: id("modelId"), status: catalogModelStatus }))
    .output(setModelStatusOutput)
    .mutation(({ ctx, input }) => setCatalogModelStatus(ctx.actor, input)),

  quotas: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/quotas", tags: ["Admin: quotas"], summary: "List quotas across organisations" } })
    .input(pageInput)
    .output(adminQuotasOutput)
    .query(async ({ input }) => pageOf(await quotasOverview(), input)),
  setQuota: adminProcedure
    .meta({ openapi: { method: "PUT", path: "/admin/quotas", tags: ["Admin: quotas"], summary: "Set an organisation's GPU quota" } })
    .input(z.object({ orgId: id("orgId"), regionId: id("regionId"), gpuTypeId: id("gpuTypeId"), limitGpus: quotaGpus }))
    .output(setQuotaOutput)
    .mutation(({ ctx, input }) => setQuota(ctx.actor, input)),
  quotaRequests: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/quota-requests", tags: ["Admin: quotas"], summary: "List quota requests, pending first" } })
    .input(pageInput)
    .output(adminQuotaRequestsOutput)
    .query(async ({ input }) => pageOf(await listQuotaRequestsForAdmins(), input)),
  decideQuotaRequest: adminProcedure
    .meta({ openapi: { method: "POST", path: "/admin/quota-requests/{requestId}/decision", tags: ["Admin: quotas"], summary: "Approve or reject a quota request" } })
    .input(quotaDecisionInput)
    .output(decideQuotaRequestOutput)
    .mutation(({ ctx, input }) => decideQuotaRequest(ctx.actor, input)),

  // The quota every new organisation receives at creation (docs/onboarding.md); platform chain.
  starterQuota: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/starter-quota", tags: ["Admin: quotas"], summary: "Read the starter quota new organisations receive" } })
    .input(noInput)
    .output(starterQuotaOutput)
    .query(() => getStarterQuota()),
  setStarterQuota: adminProcedure
    .meta({ openapi: { method: "PUT", path: "/admin/starter-quota", tags: ["Admin: quotas"], summary: "Set the starter quota new organisations receive", description: "Replaces the whole list; existing organisations keep their quotas." } })
    .input(starterQuotaInput)
    .output(starterQuotaOutput)
    .mutation(({ ctx, input }) => setStarterQuota(ctx.actor, input)),

  organizations: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/orgs", tags: ["Admin: organisations"], summary: "List organisations" } })
    .input(pageInput)
    .output(adminOrganizationsOutput)
    .query(async ({ input }) => pageOf(await listOrganizationsForAdmins(), input)),
  setOrganizationStatus: adminProcedure
    .meta({ openapi: { method: "POST", path: "/admin/orgs/{orgId}/status", tags: ["Admin: organisations"], summary: "Suspend or reactivate an organisation" } })
    .input(z.object({ orgId: id("orgId"), status: z.enum(["ACTIVE", "SUSPENDED"], { message: "Status must be Active or Suspended" }), reason: statusReason }))
    .output(setOrganizationStatusOutput)
    .mutation(({ ctx, input }) => setOrganizationStatus(ctx.actor, input)),

  platformAuditTrail: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/audit-events", tags: ["Admin: audit"], summary: "List platform audit events, newest first" } })
    .input(auditPageInput)
    .output(platformAuditTrailOutput)
    .query(({ input }) => auditTrail({ orgId: null }, input)),
  verifyPlatformAuditTrail: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/audit-events/verification", tags: ["Admin: audit"], summary: "Verify the platform audit trail's integrity" } })
    .input(noInput)
    .output(verifyPlatformAuditTrailOutput)
    .query(() => verifyTrail(null)),

  // The mail outbox (docs/email.md): what was sent, failed, or — without SMTP_URL — only kept here.
  outbox: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/outbox", tags: ["Admin: mail"], summary: "List outgoing mail, newest first" } })
    .input(pageInput.extend({ status: mailStatus.optional(), kind: mailKind.optional() }))
    .output(outboxOutput)
    .query(async ({ input }) => pageOf(await listOutbox({ status: input.status, kind: input.kind }), input)),
  outboxMessage: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/outbox/{mailId}", tags: ["Admin: mail"], summary: "Read one outgoing mail" } })
    .input(z.object({ mailId: id("mailId") }))
    .output(mailMessageOutput)
    .query(({ input }) => getMailMessage(input.mailId)),
  dashboard: dashboardRouter,
});
