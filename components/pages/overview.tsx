"use client";
import Link from "next/link";
import { BudgetBanner } from "../budgets/budget-settings";
import { formatMicroEur, formatNumber } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { Card, PageHeader, Stat } from "../ui/layout";
import { EmptyState, QueryView } from "../ui/states";

export function OverviewPage() {
  const org = useCurrentOrg();
  const overview = api.organization.overview.useQuery({ orgId: org.id });
  return (
    <>
      <PageHeader title={org.name} description="What your organisation runs on the platform, and what it costs." />
      <BudgetBanner />
      <QueryView query={overview}>
        {(o) => (
          <div className="space-y-6">
            <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
              <Stat label="Deployments" value={o.deployments} hint={`${o.runningDeployments} running`} />
              <Stat label="GPU quota" value={o.quotaGpus} hint={o.pendingQuotaRequests ? `${o.pendingQuotaRequests} request(s) pending` : "GPUs across regions"} />
              <UsageFigures activeApiKeys={o.activeApiKeys} />
            </div>
            {o.deployments === 0 && (
              <EmptyState title="No models deployed yet">
                Deploy a catalog model to a sovereign region of your choice, then call it with an OpenAI-compatible client.{" "}
                {o.quotaGpus === 0 ? (
                  <>
                    First, <Link className="font-medium text-brand-700 underline" href={`/o/${org.slug}/quotas`}>request a GPU quota</Link>.
                  </>
                ) : (
                  <>
                    Start from the <Link className="font-medium text-brand-700 underline" href={`/o/${org.slug}/deployments`}>Deployments</Link> page.
                  </>
                )}
              </EmptyState>
            )}
            <Card title="Team">
              <p className="text-sm text-slate-700">
                {o.members} member{o.members === 1 ? "" : "s"}.{" "}
                <Link className="font-medium text-brand-700 underline" href={`/o/${org.slug}/settings`}>Invite people and manage roles</Link>
              </p>
            </Card>
          </div>
        )}
      </QueryView>
    </>
  );
}

/** Requests and spend of the last 30 days, from the usage roll-ups (the same figures as the Usage page). */
function UsageFigures({ activeApiKeys }: { activeApiKeys: number }) {
  const org = useCurrentOrg();
  const usage = api.usage.summary.useQuery({ orgId: org.id, period: "30d" });
  const t = usage.data?.totals;
  const pending = usage.error ? "—" : <span className="inline-block h-7 w-20 animate-pulse rounded bg-slate-200" aria-hidden />;
  return (
    <>
      <Stat
        label="Requests (30 days)"
        value={t ? formatNumber(t.requests) : pending}
        hint={
          t ? (
            <>
              {formatNumber(t.tokensIn + t.tokensOut)} tokens · {activeApiKeys} active API key(s) ·{" "}
              <Link className="font-medium text-brand-700 underline" href={`/o/${org.slug}/usage?period=30d`}>Usage</Link>
            </>
          ) : (
            usage.error?.message
          )
        }
      />
      <Stat
        label="Spend (30 days)"
        value={t ? <span data-testid="spend-total">{formatMicroEur(t.costMicroEur)}</span> : pending}
        hint={t ? `${formatMicroEur(t.gpuCostMicroEur)} GPU time · ${formatMicroEur(t.tokenCostMicroEur)} tokens` : undefined}
      />
    </>
  );
}
