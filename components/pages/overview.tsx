"use client";
import Link from "next/link";
import type { ReactNode } from "react";
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
      <FirstSteps />
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

type StepState = "todo" | "in_progress" | "done";

/** How often the checklist re-reads the organisation's progress while a step is open. */
const FIRST_STEPS_REFRESH_MS = 3000;

/**
 * The first-steps checklist (docs/onboarding.md): each step computed by the server from the
 * organisation's data, polled while a step is open so it ticks itself; collapsed once all are done.
 */
function FirstSteps() {
  const org = useCurrentOrg();
  const progress = api.organization.onboarding.useQuery(
    { orgId: org.id },
    { refetchInterval: (query) => (query.state.data?.complete ? false : FIRST_STEPS_REFRESH_MS) },
  );
  if (progress.isLoading) {
    return (
      <section aria-label="First steps" aria-busy className="mb-6 rounded-lg border border-slate-200 bg-white p-4">
        <p className="text-sm text-slate-500">Loading your first steps…</p>
      </section>
    );
  }
  // The rest of the overview still works; the checklist is a guide, not a gate.
  if (!progress.data) return null;
  const p = progress.data;
  const base = `/o/${org.slug}`;
  const starter = p.deployableNow[0];
  const steps: { id: keyof typeof p.steps; title: string; href: string; action: string; detail: ReactNode }[] = [
    {
      id: "deploy",
      title: "Deploy the tiny demo model",
      href: `${base}/deployments/new`,
      action: "Open the deployment wizard",
      detail:
        p.steps.deploy === "in_progress"
          ? "Your deployment is starting; this step ticks itself once it runs."
          : starter
            ? `You can deploy now: ${starter.freeGpus} ${starter.freeGpus === 1 ? "GPU" : "GPUs"} in ${starter.region.name} (${starter.gpuType.name}).`
            : "First, request a GPU quota in a region.",
    },
    { id: "apiKey", title: "Create an API key", href: `${base}/api-keys`, action: "Go to API keys", detail: "Programs call your deployments with it; it is shown once." },
    {
      id: "call",
      title: "Call your model",
      href: p.runningDeployment ? `${base}/deployments/${p.runningDeployment.id}` : `${base}/api-reference`,
      action: "See how to call it",
      detail: "Any OpenAI-compatible client works: point it at the gateway with your key.",
    },
    { id: "usage", title: "See the call in usage", href: `${base}/usage?period=24h`, action: "Open Usage", detail: "Requests, tokens and cost appear within a few seconds." },
  ];
  if (!starter && p.steps.deploy === "todo") steps[0] = { ...steps[0], href: `${base}/quotas`, action: "Request a quota" };
  const done = steps.filter((s) => p.steps[s.id] === "done").length;
  const list = (
    <ol className="mt-3 space-y-2">
      {steps.map((step, i) => (
        <StepItem key={step.id} n={i + 1} state={p.steps[step.id]} {...step} />
      ))}
    </ol>
  );
  if (p.complete) {
    return (
      <details className="mb-6 rounded-lg border border-emerald-200 bg-emerald-50 p-4" data-testid="first-steps" data-complete="true">
        <summary className="cursor-pointer text-sm font-medium text-emerald-900">First steps complete: your organisation deploys, calls and measures its models.</summary>
        {list}
      </details>
    );
  }
  return (
    <section aria-labelledby="first-steps-title" className="mb-6 rounded-lg border border-slate-200 bg-white p-4" data-testid="first-steps" data-complete="false">
      <div className="flex flex-wrap items-baseline justify-between gap-2">
        <h2 id="first-steps-title" className="text-base font-semibold">First steps</h2>
        <p className="text-sm text-slate-600" aria-live="polite">
          {done} of {steps.length} done
        </p>
      </div>
      {list}
    </section>
  );
}

function StepItem({ n, state, title, href, action, detail, id }: { n: number; state: StepState; title: string; href: string; action: string; detail: ReactNode; id: string }) {
  const label = state === "done" ? "Done" : state === "in_progress" ? "In progress" : "To do";
  return (
    <li className="flex items-start gap-3 rounded-md border border-slate-100 p-3" data-testid={`first-step-${id}`} data-state={state}>
      <span
        aria-hidden
        className={`mt-0.5 flex h-6 w-6 shrink-0 items-center justify-center rounded-full text-xs font-semibold ${
          state === "done" ? "bg-emerald-600 text-white" : state === "in_progress" ? "bg-amber-100 text-amber-900" : "bg-slate-100 text-slate-700"
        }`}
      >
        {state === "done" ? "✓" : n}
      </span>
      <div className="min-w-0 flex-1">
        <p className={`text-sm font-medium ${state === "done" ? "text-slate-500 line-through" : "text-slate-900"}`}>
          {title} <span className="sr-only">({label})</span>
        </p>
        {state !== "done" && (
          <p className="mt-0.5 text-sm text-slate-600">
            {detail}{" "}
            <Link className="font-medium text-brand-700 underline" href={href}>
              {action}
            </Link>
          </p>
        )}
      </div>
    </li>
  );
}
