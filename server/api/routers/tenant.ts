import { z } from "zod";
import { listCatalogModels } from "../../services/catalog";
import { auditTrail, complianceOverview, complianceOverviewAll, listResidencyPolicies, verifyTrail } from "../../services/compliance";
import { buildComplianceReport, parseReportPeriod } from "../../services/compliance-report";
import { complianceOverviewAllOutput, complianceOverviewOutput, complianceReportOutput } from "../outputs/compliance";
import { cancelQuotaRequest, listQuotas, requestQuotaIncrease } from "../../services/quotas";
import { listRegionsForTenants, regionsForOrg } from "../../services/regions";
import { usageBreakdown, usageGuardrails, usageLatency, usageSummary } from "../../services/usage";
import { pageInput } from "../outputs/common";
import {
  auditTrailOutput,
  auditVerificationOutput,
  cancelQuotaRequestOutput,
  catalogListOutput,
  quotaRequestOutput,
  quotasListOutput,
  regionsForOrgOutput,
  regionsListOutput,
  residencyPoliciesOutput,
} from "../outputs/tenant";
import { usageBreakdownOutput, usageGuardrailsOutput, usageLatencyOutput, usageSummaryOutput } from "../outputs/usage";
import { dataClassification, id, quotaRequestInput, usageBreakdownBy, usagePeriod } from "../schemas";
import { adminProcedure, authenticatedProcedure, orgProcedure, router } from "../trpc";

/** For procedures that take nothing: optional, so tRPC callers may still pass no input at all. */
const noInput = z.object({}).optional();

/** The audit trails page like every list that grows, 25 events at a time by default. */
export const auditPageInput = pageInput.extend({ limit: pageInput.shape.limit.unwrap().default(25) });

export const regionsRouter = router({
  // Regions and the catalog are the platform's public offer, the same for every tenant.
  list: authenticatedProcedure
    .meta({ openapi: { method: "GET", path: "/regions", tags: ["Regions"], summary: "List regions" } })
    .input(noInput)
    .output(regionsListOutput)
    .query(() => listRegionsForTenants()),
  // The same regions seen by one organisation: its quotas there and, for a data class, its residency policy's verdict.
  forOrg: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/regions", tags: ["Regions"], summary: "List regions with your quotas and residency verdict" } })
    .input(z.object({ dataClassification: dataClassification.optional() }))
    .output(regionsForOrgOutput)
    .query(({ ctx, input }) => regionsForOrg(ctx.org.id, input)),
});

export const catalogRouter = router({
  list: authenticatedProcedure
    .meta({ openapi: { method: "GET", path: "/catalog/models", tags: ["Catalog"], summary: "List deployable models" } })
    .input(noInput)
    .output(catalogListOutput)
    .query(() => listCatalogModels()),
});

export const quotasRouter = router({
  list: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/quotas", tags: ["Quotas"], summary: "List GPU quotas and requests" } })
    .output(quotasListOutput)
    .query(({ ctx }) => listQuotas(ctx.org.id)),
  request: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "POST", path: "/orgs/{orgId}/quota-requests", tags: ["Quotas"], summary: "Request more GPUs" } })
    .input(quotaRequestInput)
    .output(quotaRequestOutput)
    .mutation(({ ctx, input }) => requestQuotaIncrease(ctx.org.id, ctx.actor, input)),
  cancelRequest: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "POST", path: "/orgs/{orgId}/quota-requests/{requestId}/cancel", tags: ["Quotas"], summary: "Cancel a pending quota request" } })
    .input(z.object({ requestId: id("requestId") }))
    .output(cancelQuotaRequestOutput)
    .mutation(({ ctx, input }) => cancelQuotaRequest(ctx.org.id, ctx.actor, input)),
});

/** A period of the dashboards, optionally for one deployment of the organisation (its page). */
const usageInput = z.object({
  period: usagePeriod,
  deploymentId: id("deploymentId").optional().meta({ description: "Only this deployment's requests and GPU time" }),
});

// The dashboards, read from the roll-ups (services/usage.ts): the console's charts and FinOps tools read the same figures.
export const usageRouter = router({
  summary: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/usage/summary", tags: ["Usage"], summary: "Requests, errors, tokens, cost and latency over a period, with a series per hour or day" } })
    .input(usageInput)
    .output(usageSummaryOutput)
    .query(({ ctx, input }) => usageSummary({ ...input, orgId: ctx.org.id })),
  latency: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/usage/latency", tags: ["Usage"], summary: "Latency and time-to-first-token distributions over a period" } })
    .input(usageInput)
    .output(usageLatencyOutput)
    .query(({ ctx, input }) => usageLatency({ ...input, orgId: ctx.org.id })),
  breakdown: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/usage/breakdown", tags: ["Usage"], summary: "Usage over a period per deployment, API key or region" } })
    .input(usageInput.extend({ by: usageBreakdownBy }))
    .output(usageBreakdownOutput)
    .query(({ ctx, input }) => usageBreakdown({ ...input, orgId: ctx.org.id })),
  guardrails: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/usage/guardrails", tags: ["Usage"], summary: "Guardrail verdicts over a period per check, deployment and API key, with a series per hour or day" } })
    .input(usageInput)
    .output(usageGuardrailsOutput)
    .query(({ ctx, input }) => usageGuardrails({ ...input, orgId: ctx.org.id })),
});

export const complianceRouter = router({
  auditTrail: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/audit-events", tags: ["Compliance"], summary: "List audit events, newest first" } })
    .input(auditPageInput)
    .output(auditTrailOutput)
    .query(({ ctx, input }) => auditTrail({ orgId: ctx.org.id }, input)),
  verifyAuditTrail: orgProcedure
    .requires("ADMIN")
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/audit-events/verification", tags: ["Compliance"], summary: "Verify the audit trail's integrity" } })
    .output(auditVerificationOutput)
    .query(({ ctx }) => verifyTrail(ctx.org.id)),
  residencyPolicies: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/residency-policies", tags: ["Compliance"], summary: "List residency policies" } })
    .output(residencyPoliciesOutput)
    .query(({ ctx }) => listResidencyPolicies(ctx.org.id)),
  // The compliance dashboard and report (docs/compliance.md).
  overview: orgProcedure
    .meta({ openapi: { method: "GET", path: "/orgs/{orgId}/compliance/overview", tags: ["Compliance"], summary: "Compliance dashboard: deployments by compliance status, exposure, guardrail outcomes, audit integrity and retention over a period" } })
    .input(z.object({ period: usagePeriod.default("7d") }))
    .output(complianceOverviewOutput)
    .query(({ ctx, input }) => complianceOverview(ctx.org.id, input.period)),
  report: orgProcedure
    .requires("ADMIN")
    .meta({
      openapi: {
        method: "GET",
        path: "/orgs/{orgId}/compliance/report",
        tags: ["Compliance"],
        summary: "Compliance report for a period (AI Act logging, GDPR residency), bound to a signed audit checkpoint; JSON Schema at /api/v1/schemas/compliance-report.json, PDF at /api/v1/orgs/{orgId}/compliance/report.pdf",
      },
    })
    .input(
      z.object({
        from: z.string({ error: "from is required: a date (2026-11-01) or an RFC 3339 date-time" }).min(1, "from is required: a date (2026-11-01) or an RFC 3339 date-time").max(40, "from is too long").meta({ description: "Start of the period: a date (its 00:00 UTC) or an RFC 3339 date-time" }),
        to: z.string({ error: "to is required: a date (2026-11-30) or an RFC 3339 date-time" }).min(1, "to is required: a date (2026-11-30) or an RFC 3339 date-time").max(40, "to is too long").meta({ description: "End of the period (exclusive): a date means through its end; not in the future; at most 400 days after from" }),
      }),
    )
    .output(complianceReportOutput)
    .query(({ ctx, input }) => buildComplianceReport(ctx.org.id, parseReportPeriod(input))),
  adminOverview: adminProcedure
    .meta({ openapi: { method: "GET", path: "/admin/compliance/overview", tags: ["Admin: dashboards"], summary: "Compliance of every organisation over a period, with platform totals" } })
    .input(z.object({ period: usagePeriod.default("7d") }))
    .output(complianceOverviewAllOutput)
    .query(({ input }) => complianceOverviewAll(input.period)),
});
