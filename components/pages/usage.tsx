"use client";
import { useState } from "react";
import { DailyUsageChart } from "../charts/daily-usage-chart";
import { formatEur, formatNumber, formatSpendBreakdown } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { Card, PageHeader, Stat } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";

const PERIODS = [7, 30, 90] as const;

export function UsagePage() {
  const org = useCurrentOrg();
  const [days, setDays] = useState<(typeof PERIODS)[number]>(30);
  const summary = api.usage.summary.useQuery({ orgId: org.id, days });
  return (
    <>
      <PageHeader
        title="Usage"
        description="What your organisation spends: GPU time of its running replicas, and the requests, tokens and cost of every call your programs made through the gateway."
        actions={
          <div role="group" aria-label="Period" className="inline-flex rounded-md border border-slate-300 bg-white">
            {PERIODS.map((p) => (
              <button key={p} type="button" aria-pressed={days === p} onClick={() => setDays(p)} className={`px-3 py-1.5 text-sm ${days === p ? "bg-brand-600 text-white" : "text-slate-700"}`}>
                {p} days
              </button>
            ))}
          </div>
        }
      />
      <QueryView query={summary}>
        {(s) => (
          <div className="space-y-6">
            <div className="grid grid-cols-2 gap-3 md:grid-cols-5">
              <Stat label="Requests" value={formatNumber(s.totals.requests)} />
              <Stat label="Tokens" value={formatNumber(s.totals.tokens)} />
              <Stat label="Error rate" value={s.totals.requests ? `${((100 * s.totals.errors) / s.totals.requests).toFixed(1)} %` : "—"} />
              <Stat label="GPU-hours" value={s.gpu.gpuHours.toFixed(2)} hint="metered from running replicas" />
              <Stat label="Cost" value={<span data-testid="spend-total">{formatEur(s.spend.totalEur)}</span>} hint={formatSpendBreakdown(s.spend)} />
            </div>
            {s.gpu.byDeployment.length > 0 && (
              <Card title="GPU time by deployment">
                <ul className="space-y-2 text-sm">
                  {s.gpu.byDeployment.map((g) => {
                    const pct = s.gpu.costEur > 0 ? Math.max(2, Math.round((100 * g.costEur) / s.gpu.costEur)) : 0;
                    return (
                      <li key={g.deploymentId} className="grid grid-cols-[minmax(0,10rem)_1fr_auto] items-center gap-3">
                        <span className="truncate font-medium">{g.name}</span>
                        <span className="h-2 rounded-full bg-slate-200"><span className="block h-full rounded-full bg-brand-600" style={{ width: `${pct}%` }} /></span>
                        <span className="tabular-nums text-slate-600">{g.gpuHours.toFixed(2)} h · {formatEur(g.costEur)}</span>
                      </li>
                    );
                  })}
                </ul>
              </Card>
            )}
            {s.daily.length === 0 ? (
              <EmptyState title={`No requests in the last ${s.days} days`}>Create an API key and call a running deployment; each request appears here.</EmptyState>
            ) : (
              <Card title="Requests per day">
                <DailyUsageChart daily={s.daily} />
              </Card>
            )}
          </div>
        )}
      </QueryView>
    </>
  );
}
