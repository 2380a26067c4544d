"use client";
import Link from "next/link";
import { formatEur, formatNumber, formatSpendBreakdown } from "../format";
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
      <QueryView query={overview}>
        {(o) => (
          <div className="space-y-6">
            <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
              <Stat label="Deployments" value={o.deployments} hint={`${o.runningDeployments} running`} />
              <Stat label="GPU quota" value={o.quotaGpus} hint={o.pendingQuotaRequests ? `${o.pendingQuotaRequests} request(s) pending` : "GPUs across regions"} />
              <Stat label="Requests (30 days)" value={formatNumber(o.last30Days.requests)} hint={`${formatNumber(o.last30Days.tokens)} tokens · ${o.activeApiKeys} active API key(s)`} />
              <Stat label="Spend (30 days)" value={<span data-testid="spend-total">{formatEur(o.last30Days.spend.totalEur)}</span>} hint={formatSpendBreakdown(o.last30Days.spend)} />
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
