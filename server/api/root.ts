import { accountRouter } from "./routers/account";
import { adminRouter } from "./routers/admin";
import { apiKeysRouter } from "./routers/api-keys";
import { auditRouter } from "./routers/audit";
import { budgetsRouter, webhooksRouter } from "./routers/budgets";
import { deploymentsRouter } from "./routers/deployments";
import { exportsRouter } from "./routers/exports";
import { evidenceRouter } from "./routers/evidence";
import { guardrailsRouter } from "./routers/guardrails";
import { modelRoutesRouter } from "./routers/model-routes";
import { organizationRouter } from "./routers/organization";
import { residencyRouter } from "./routers/residency";
import { catalogRouter, complianceRouter, quotasRouter, regionsRouter, usageRouter } from "./routers/tenant";
import { tracesRouter } from "./routers/traces";
import { createCallerFactory, router } from "./trpc";

export const appRouter = router({
  account: accountRouter,
  organization: organizationRouter,
  regions: regionsRouter,
  catalog: catalogRouter,
  quotas: quotasRouter,
  // Before deployments: REST matches paths in this order, and GET /orgs/{orgId}/deployments/compliance
  // must not be read as the deployment "compliance".
  residency: residencyRouter,
  // GET /orgs/{orgId}/deployments/{deploymentId}/evidence (docs/evidence.md).
  evidence: evidenceRouter,
  deployments: deploymentsRouter,
  apiKeys: apiKeysRouter,
  usage: usageRouter,
  budgets: budgetsRouter,
  webhooks: webhooksRouter,
  traces: tracesRouter,
  guardrails: guardrailsRouter,
  // Routes (docs/routes.md): REST /orgs/{orgId}/routes…
  modelRoutes: modelRoutesRouter,
  exports: exportsRouter,
  compliance: complianceRouter,
  audit: auditRouter,
  admin: adminRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
