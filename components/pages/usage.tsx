"use client";
import { PageHeader } from "../ui/layout";
import { FirstCallHint, PeriodSelector, UsageDashboard, useUsagePeriod } from "../usage/dashboard";
import { GuardrailsPanel } from "../usage/guardrails";
import { periodPhrase } from "../charts/time-axis";

export function UsagePage() {
  const [period, setPeriod] = useUsagePeriod();
  return (
    <>
      <PageHeader
        title="Usage"
        description="Requests, errors, latency, tokens and cost of every call your programs made through the gateway, with the GPU time of your running replicas."
        actions={<PeriodSelector value={period} onChange={setPeriod} />}
      />
      <UsageDashboard period={period} breakdowns={["deployment", "key", "region"]} empty={<FirstCallHint title={`No requests ${periodPhrase(period)}`} />} />
      <div className="mt-8">
        <GuardrailsPanel period={period} />
      </div>
    </>
  );
}
