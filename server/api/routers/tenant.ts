import { z } from "zod";
import { listQuotas, listRegionsForTenants } from "../../services/capacity";
import { listCatalogModels } from "../../services/catalog";
import { auditTrail, listResidencyPolicies, verifyTrail } from "../../services/compliance";
import { listApiKeys, listDeployments, usageSummary } from "../../services/workloads";
import { id } from "../schemas";
import { orgProcedure, protectedProcedure, router } from "../trpc";

const page = z.object({ cursor: id("cursor").optional(), limit: z.number().int().min(1).max(100).default(25) });

export const regionsRouter = router({
  // Regions and the catalog are the platform's public offer, the same for every tenant.
  list: protectedProcedure.query(() => listRegionsForTenants()),
});

export const catalogRouter = router({
  list: protectedProcedure.query(() => listCatalogModels()),
});

export const quotasRouter = router({
  list: orgProcedure.query(({ ctx }) => listQuotas(ctx.org.id)),
});

export const deploymentsRouter = router({
  list: orgProcedure.query(({ ctx }) => listDeployments(ctx.org.id)),
});

export const apiKeysRouter = router({
  list: orgProcedure.query(({ ctx }) => listApiKeys(ctx.org.id)),
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
