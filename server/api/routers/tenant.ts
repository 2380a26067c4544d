import { z } from "zod";
import { listCatalogModels } from "../../services/catalog";
import { auditTrail, listResidencyPolicies, verifyTrail } from "../../services/compliance";
import { cancelQuotaRequest, listQuotas, requestQuotaIncrease } from "../../services/quotas";
import { listRegionsForTenants, regionsForOrg } from "../../services/regions";
import { usageSummary } from "../../services/workloads";
import { userActor } from "../context";
import { dataClassification, id, quotaRequestInput } from "../schemas";
import { orgProcedure, protectedProcedure, router } from "../trpc";

const page = z.object({ cursor: id("cursor").optional(), limit: z.number().int().min(1).max(100).default(25) });

export const regionsRouter = router({
  // Regions and the catalog are the platform's public offer, the same for every tenant.
  list: protectedProcedure.query(() => listRegionsForTenants()),
  // The same regions seen by one organisation: its quotas there and, for a data class, its residency policy's verdict.
  forOrg: orgProcedure
    .input(z.object({ dataClassification: dataClassification.optional() }))
    .query(({ ctx, input }) => regionsForOrg(ctx.org.id, input)),
});

export const catalogRouter = router({
  list: protectedProcedure.query(() => listCatalogModels()),
});

export const quotasRouter = router({
  list: orgProcedure.query(({ ctx }) => listQuotas(ctx.org.id)),
  request: orgProcedure
    .requires("ADMIN")
    .input(quotaRequestInput)
    .mutation(({ ctx, input }) => requestQuotaIncrease(ctx.org.id, { ...userActor(ctx, ctx.user), id: ctx.user.id }, input)),
  cancelRequest: orgProcedure
    .requires("ADMIN")
    .input(z.object({ requestId: id("requestId") }))
    .mutation(({ ctx, input }) => cancelQuotaRequest(ctx.org.id, userActor(ctx, ctx.user), input)),
});

export const usageRouter = router({
  summary: orgProcedure
    .input(z.object({ days: z.number().int().min(1).max(365).default(30) }))
    .query(({ ctx, input }) => usageSummary(ctx.org.id, input.days)),
});

export const complianceRouter = router({
  auditTrail: orgProcedure.requires("ADMIN").input(page).query(({ ctx, input }) => auditTrail({ orgId: ctx.org.id }, input)),
  verifyAuditTrail: orgProcedure.requires("ADMIN").query(({ ctx }) => verifyTrail(ctx.org.id)),
  residencyPolicies: orgProcedure.query(({ ctx }) => listResidencyPolicies(ctx.org.id)),
});
