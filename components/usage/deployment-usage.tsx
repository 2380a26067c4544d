"use client";
import { periodPhrase } from "../charts/time-axis";
import { FirstCallHint, PeriodSelector, UsageDashboard, useUsagePeriod } from "./dashboard";
import { GuardrailsPanel } from "./guardrails";

/** The usage dashboard of one deployment, on its page: the organisation's charts filtered to it. */
export function DeploymentUsage({ deploymentId, name }: { deploymentId: string; name: string }) {
  const [period, setPeriod] = useUsagePeriod("24h");
  return (
    <section aria-labelledby="deployment-usage" className="space-y-3">
      <div className="flex flex-col gap-2 sm:flex-row sm:items-center sm:justify-between">
        <h2 id="deployment-usage" className="text-sm font-semibold text-slate-700">
          Usage
        </h2>
        <PeriodSelector value={period} onChange={setPeriod} />
      </div>
      <UsageDashboard period={period} deploymentId={deploymentId} breakdowns={["key"]} empty={<FirstCallHint title={`No requests to ${name} ${periodPhrase(period)}`} model={name} />} />
      <GuardrailsPanel period={period} deploymentId={deploymentId} />
    </section>
  );
}
