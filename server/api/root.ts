import { accountRouter } from "./routers/account";
import { adminRouter } from "./routers/admin";
import { apiKeysRouter } from "./routers/api-keys";
import { budgetsRouter, webhooksRouter } from "./routers/budgets";
import { deploymentsRouter } from "./routers/deployments";
import { guardrailsRouter } from "./routers/guardrails";
import { organizationRouter } from "./routers/organization";
import { catalogRouter, complianceRouter, quotasRouter, regionsRouter, usageRouter } from "./routers/tenant";
import { tracesRouter } from "./routers/traces";
import { createCallerFactory, router } from "./trpc";

export const appRouter = router({
  account: accountRouter,
  organization: organizationRouter,
  regions: regionsRouter,
  catalog: catalogRouter,
  quotas: quotasRouter,
  deployments: deploymentsRouter,
  apiKeys: apiKeysRouter,
  usage: usageRouter,
  budgets: budgetsRouter,
  webhooks: webhooksRouter,
  traces: tracesRouter,
  guardrails: guardrailsRouter,
  compliance: complianceRouter,
  admin: adminRouter,
});

export type AppRouter = typeof appRouter;
export const createCaller = createCallerFactory(appRouter);
