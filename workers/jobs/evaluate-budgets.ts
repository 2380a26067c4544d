/**
 * Organisation budgets (server/services/budgets.ts, docs/budgets.md): every few seconds the workers
 * compare each budgeted organisation's spend this month with its thresholds (a crossing becomes an
 * alert, an audit event and a webhook delivery) and refresh the GPU time the gateways subtract
 * from hard budgets. Idempotent: several workers processes may evaluate at once, an alert's unique
 * key lets one of them record it.
 */
import { logger } from "../../server/logger";
import { startLoop } from "../loop";
import { evaluateBudgets } from "../../server/services/budgets";

export const BUDGET_EVALUATION_MS = Number(process.env.ENCLAVE_BUDGET_EVALUATION_MS ?? 5_000);

export function registerBudgetEvaluation(intervalMs = BUDGET_EVALUATION_MS): () => Promise<void> {
  return startLoop(
    "budget evaluation",
    async () => {
      const result = await evaluateBudgets();
      if (result.alerts > 0) logger.info("budget alerts raised", result);
    },
    intervalMs,
  );
}
