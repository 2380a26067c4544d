"use client";
import { keepPreviousData } from "@tanstack/react-query";
import Link from "next/link";
import type { ReactNode } from "react";
import { ChartSkeleton } from "../charts/chart-figure";
import { PERIOD_LABELS, PERIODS, periodPhrase, type Period } from "../charts/time-axis";
import { CostChart, densePoints, DistributionChart, LatencyChart, RequestsChart, TokensChart, TtftChart } from "../charts/usage-charts";
import type { BreakdownBy, BreakdownRow, UsageSummary } from "../charts/usage-types";
import { formatMicroEur, formatMs, formatNumber, formatRate } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api } from "../trpc";
import { CopyButton } from "../ui/copy-button";
import { Card } from "../ui/layout";
import { Segmented } from "../ui/segmented";
import { SortableTable, type Column } from "../ui/sortable-table";
import { ErrorState, EmptyState } from "../ui/states";
import { useSearchParamChoice } from "./url-state";

/** Dashboards refresh on their own: the workers roll new requests up within a minute. */
const REFRESH_MS = 30_000;

const PERIOD_OPTIONS = PERIODS.map((p) => ({ value: p, label: PERIOD_LABELS[p] }));
const BREAKDOWN_LABELS: Record<BreakdownBy, string> = { deployment: "Deployment", key: "API key", region: "Region" };
const BREAKDOWN_HEADINGS: Record<BreakdownBy, string> = { deployment: "deployment", key: "API key", region: "region" };

/** The period the page shows, kept in the URL (`?period=30d`). */
export function useUsagePeriod(fallback: Period = "7d") {
  return useSearchParamChoice<Period>("period", PERIODS, fallback);
}

export function PeriodSelector({ value, onChange }: { value: Period; onChange: (p: Period) => void }) {
  return <Segmented label="Period" options={PERIOD_OPTIONS} value={value} onChange={onChange} />;
}

/**
 * Usage of the organisation, or of one deployment: headline figures, charts over the period, the
 * latency distribution, errors by status and a breakdown table. Every figure comes from the
 * roll-ups (usage.summary / usage.latency / usage.breakdown).
 */
export function UsageDashboard({ period, deploymentId, breakdowns, empty }: { period: Period; deploymentId?: string; breakdowns: readonly BreakdownBy[]; empty: ReactNode }) {
  const org = useCurrentOrg();
  const [by, setBy] = useSearchParamChoice<BreakdownBy>("by", breakdowns, breakdowns[0]);
  const input = { orgId: org.id, period, ...(deploymentId ? { deploymentId } : {}) };
  // While another period loads, the previous one stays on screen, dimmed.
  const options = { refetchInterval: REFRESH_MS, placeholderData: keepPreviousData };
  const summary = api.usage.summary.useQuery(input, options);
  const latency = api.usage.latency.useQuery(input, options);
  const breakdown = api.usage.breakdown.useQuery({ ...input, by }, options);

  const failed = [summary, latency, breakdown].filter((q) => q.error);
  const error = failed.length > 0 && (
    <ErrorState error={{ message: [...new Set(failed.map((q) => q.error!.message))].join(" · ") }} onRetry={() => failed.forEach((q) => void q.refetch())} />
  );
  if (!summary.data) return error || <DashboardSkeleton />;

  const s: UsageSummary = summary.data;
  const stale = summary.isPlaceholderData;
  return (
    <div className={`space-y-6 transition-opacity ${stale ? "opacity-60" : ""}`} aria-busy={stale || undefined}>
      {error}
      <HeadlineFigures summary={s} />
      {s.totals.requests === 0 ? (
        empty
      ) : (
        <>
          <Charts summary={s} />
          <section aria-labelledby="usage-distribution" className="space-y-3">
            <h2 id="usage-distribution" className="text-base font-semibold text-slate-800">
              How long requests take
            </h2>
            {latency.data ? (
              <div className="grid gap-4 lg:grid-cols-2">
                <DistributionChart title="Latency distribution" what="latency" distribution={latency.data.latency} testId="chart-latency-distribution" />
                <DistributionChart title="Time to first token distribution" what="time to first token" distribution={latency.data.ttft} testId="chart-ttft-distribution" />
              </div>
            ) : (
              !latency.error && (
                <div className="grid gap-4 lg:grid-cols-2">
                  <ChartSkeleton />
                  <ChartSkeleton />
                </div>
              )
            )}
          </section>
          <section aria-labelledby="usage-breakdown" className="space-y-3">
            <div className="flex flex-col gap-2 sm:flex-row sm:items-center sm:justify-between">
              <h2 id="usage-breakdown" className="text-base font-semibold text-slate-800">
                By {BREAKDOWN_HEADINGS[by]}
              </h2>
              {breakdowns.length > 1 && <Segmented label="Break down by" options={breakdowns.map((b) => ({ value: b, label: BREAKDOWN_LABELS[b] }))} value={by} onChange={setBy} />}
            </div>
            {breakdown.data ? <BreakdownTable by={by} rows={breakdown.data.rows} period={s.period} /> : !breakdown.error && <ChartSkeleton height="h-24" />}
          </section>
        </>
      )}
    </div>
  );
}

function DashboardSkeleton() {
  return (
    <div role="status" aria-live="polite" className="space-y-6">
      <span className="sr-only">Loading usage…</span>
      <div className="grid grid-cols-2 gap-3 lg:grid-cols-4">
        {Array.from({ length: 8 }, (_, i) => (
          <div key={i} className="h-24 animate-pulse rounded-lg border border-slate-200 bg-slate-100" aria-hidden />
        ))}
      </div>
      <div className="grid gap-4 lg:grid-cols-2">
        <ChartSkeleton />
        <ChartSkeleton />
      </div>
    </div>
  );
}

function Figure({ label, hint, testId, children }: { label: string; hint?: ReactNode; testId?: string; children: ReactNode }) {
  return (
    <div className="min-w-0 rounded-lg border border-slate-200 bg-white p-3 shadow-sm sm:p-4" data-testid={testId}>
      <dt className="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</dt>
      <dd className="mt-1 text-xl font-semibold tabular-nums sm:text-2xl">{children}</dd>
      {hint && <dd className="mt-0.5 text-xs text-slate-500">{hint}</dd>}
    </div>
  );
}

/** Several figures side by side in one tile (p50 · p95 · p99), each named. */
function Figures({ items }: { items: { name: string; value: string; testId?: string }[] }) {
  return (
    <span className="flex flex-wrap items-baseline gap-x-3 gap-y-0.5">
      {items.map((item) => (
        <span key={item.name} className="whitespace-nowrap">
          <span className="mr-1 text-xs font-medium text-slate-500">{item.name}</span>
          <span data-testid={item.testId}>{item.value}</span>
        </span>
      ))}
    </span>
  );
}

function HeadlineFigures({ summary }: { summary: UsageSummary }) {
  const t = summary.totals;
  const compact = "text-base sm:text-lg";
  return (
    <dl className="grid grid-cols-2 gap-3 lg:grid-cols-4">
      <Figure label="Requests" hint={periodPhrase(summary.period)}>
        <span data-testid="usage-requests">{formatNumber(t.requests)}</span>
      </Figure>
      <Figure label="Error rate" hint={`${formatNumber(t.errors)} failed`}>
        <span data-testid="usage-error-rate">{formatRate(t.errors, t.requests)}</span>
      </Figure>
      <Figure label="Latency" hint="end to end, through the gateway">
        <span className={compact}>
          <Figures
            items={[
              { name: "p50", value: formatMs(t.latencyMs.p50), testId: "usage-latency-p50" },
              { name: "p95", value: formatMs(t.latencyMs.p95), testId: "usage-latency-p95" },
              { name: "p99", value: formatMs(t.latencyMs.p99), testId: "usage-latency-p99" },
            ]}
          />
        </span>
      </Figure>
      <Figure label="Time to first token" hint="streamed requests">
        <span className={compact}>
          <Figures
            items={[
              { name: "p50", value: formatMs(t.ttftMs.p50), testId: "usage-ttft-p50" },
              { name: "p95", value: formatMs(t.ttftMs.p95), testId: "usage-ttft-p95" },
            ]}
          />
        </span>
      </Figure>
      <Figure label="Output tokens / s" hint="generation speed">
        <span data-testid="usage-output-tps">{t.outputTokensPerSecond === null || t.requests === 0 ? "—" : formatTokensPerSecond(t.outputTokensPerSecond)}</span>
      </Figure>
      <Figure label="Tokens" hint="in (prompts) · out (completions)">
        <span className={compact}>
          <Figures
            items={[
              { name: "in", value: formatNumber(t.tokensIn) },
              { name: "out", value: formatNumber(t.tokensOut) },
            ]}
          />
        </span>
      </Figure>
      <Figure label="Cost" hint={`${formatMicroEur(t.tokenCostMicroEur)} tokens · ${formatMicroEur(t.gpuCostMicroEur)} GPU time`}>
        <span data-testid="spend-total">{formatMicroEur(t.costMicroEur)}</span>
      </Figure>
      <Figure label="Cost per 1,000 requests" hint="tokens and GPU time">
        {t.requests > 0 ? formatMicroEur((1000 * t.costMicroEur) / t.requests) : "—"}
      </Figure>
    </dl>
  );
}

const formatTokensPerSecond = (v: number) => (v >= 100 ? formatNumber(Math.round(v)) : v.toFixed(1));

function Charts({ summary }: { summary: UsageSummary }) {
  const points = densePoints(summary);
  return (
    <div className="grid gap-4 lg:grid-cols-2">
      <RequestsChart summary={summary} points={points} />
      <LatencyChart summary={summary} points={points} />
      <TtftChart summary={summary} points={points} />
      <TokensChart summary={summary} points={points} />
      <CostChart summary={summary} points={points} />
      <ErrorsByStatus summary={summary} />
    </div>
  );
}

/** What a status the gateway answers means, for the people reading the errors table. */
const STATUS_MEANINGS: Record<number, string> = {
  400: "Bad request (invalid body or parameters)",
  401: "No or invalid API key",
  402: "Budget exhausted",
  403: "Not allowed (scope, deployment or residency policy)",
  404: "Unknown model or route",
  408: "Client timed out",
  413: "Request too large",
  422: "Unprocessable request",
  429: "Rate limit or budget reached",
  499: "Client closed the connection",
  500: "Internal error",
  502: "The model server failed",
  503: "No ready replica",
  504: "The model server timed out",
};
const statusMeaning = (status: number) => STATUS_MEANINGS[status] ?? (status >= 500 ? "Server error" : "Client error");

function ErrorsByStatus({ summary }: { summary: UsageSummary }) {
  const rows = [...summary.errorsByStatus].sort((a, b) => b.count - a.count);
  const total = rows.reduce((s, r) => s + r.count, 0);
  return (
    <Card title="Errors by status" className="min-w-0">
      {rows.length === 0 ? (
        <p className="text-sm text-slate-600">No failed request {periodPhrase(summary.period)}.</p>
      ) : (
        <div className="overflow-x-auto">
          <table className="min-w-full text-sm" data-testid="errors-by-status">
            <caption className="sr-only">Errors by status</caption>
            <thead>
              <tr className="text-left text-xs uppercase tracking-wide text-slate-500">
                <th scope="col" className="py-1 pr-3 font-semibold">Status</th>
                <th scope="col" className="py-1 pr-3 text-right font-semibold">Requests</th>
                <th scope="col" className="py-1 font-semibold">Share of errors</th>
              </tr>
            </thead>
            <tbody className="divide-y divide-slate-100">
              {rows.map((r) => {
                const share = total > 0 ? (100 * r.count) / total : 0;
                return (
                  <tr key={r.status}>
                    <td className="py-1.5 pr-3">
                      <span className="font-mono tabular-nums">{r.status}</span>
                      <span className="block text-xs text-slate-600">{statusMeaning(r.status)}</span>
                    </td>
                    <td className="py-1.5 pr-3 text-right align-top tabular-nums">{formatNumber(r.count)}</td>
                    <td className="w-28 py-1.5 align-top sm:w-40">
                      <span className="flex items-center gap-2">
                        <span className="h-2 flex-1 rounded-full bg-slate-200">
                          <span className="block h-full rounded-full bg-red-600" style={{ width: `${Math.max(2, Math.round(share))}%` }} />
                        </span>
                        <span className="w-10 text-right text-xs tabular-nums text-slate-600">{Math.round(share)} %</span>
                      </span>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </Card>
  );
}

function BreakdownTable({ by, rows, period }: { by: BreakdownBy; rows: BreakdownRow[]; period: Period }) {
  const org = useCurrentOrg();
  if (rows.length === 0) return <p className="text-sm text-slate-600">No requests {periodPhrase(period)}.</p>;
  const nameCell = (r: BreakdownRow) => {
    if (by === "deployment" && r.id) return <Link className="font-medium text-brand-700 underline-offset-2 hover:underline" href={`/o/${org.slug}/deployments/${r.id}`}>{r.name}</Link>;
    if (by === "key" && r.id) return <Link className="font-medium text-brand-700 underline-offset-2 hover:underline" href={`/o/${org.slug}/api-keys`}>{r.name}</Link>;
    return <span className="font-medium">{r.name}</span>;
  };
  const columns: Column<BreakdownRow>[] = [
    { key: "name", header: BREAKDOWN_LABELS[by], sortValue: (r) => r.name, cell: nameCell },
    { key: "requests", header: "Requests", numeric: true, sortValue: (r) => r.requests, cell: (r) => formatNumber(r.requests) },
    { key: "errorRate", header: "Error rate", numeric: true, sortValue: (r) => (r.requests ? r.errors / r.requests : null), cell: (r) => formatRate(r.errors, r.requests) },
    { key: "p50", header: "p50", numeric: true, sortValue: (r) => r.latencyMs.p50, cell: (r) => formatMs(r.latencyMs.p50) },
    { key: "p95", header: "p95", numeric: true, sortValue: (r) => r.latencyMs.p95, cell: (r) => formatMs(r.latencyMs.p95) },
    { key: "p99", header: "p99", numeric: true, sortValue: (r) => r.latencyMs.p99, cell: (r) => formatMs(r.latencyMs.p99) },
    { key: "ttft", header: "TTFT p95", numeric: true, sortValue: (r) => r.ttftMs.p95, cell: (r) => formatMs(r.ttftMs.p95) },
    { key: "tokensIn", header: "Tokens in", numeric: true, sortValue: (r) => r.tokensIn, cell: (r) => formatNumber(r.tokensIn) },
    { key: "tokensOut", header: "Tokens out", numeric: true, sortValue: (r) => r.tokensOut, cell: (r) => formatNumber(r.tokensOut) },
    { key: "cost", header: "Cost", numeric: true, sortValue: (r) => r.costMicroEur, cell: (r) => formatMicroEur(r.costMicroEur) },
  ];
  return <SortableTable caption={`Usage by ${BREAKDOWN_HEADINGS[by]}`} columns={columns} rows={rows} rowKey={(r) => r.id || "(none)"} initialSort={{ key: "requests", direction: "descending" }} testId="usage-breakdown" />;
}

/** What to do when nothing was called yet: a key, a deployment name as `model`, the gateway URL. */
export function FirstCallHint({ title, model }: { title: string; model?: string }) {
  const org = useCurrentOrg();
  const gateway = api.apiKeys.gatewayUrl.useQuery({ orgId: org.id });
  const baseUrl = gateway.data?.baseUrl.replace(/\/+$/, "");
  const curl = baseUrl
    ? `curl ${baseUrl}/chat/completions -H "Authorization: Bearer $ENCLAVE_API_KEY" -H 'Content-Type: application/json' -d '${JSON.stringify({ model: model ?? "DEPLOYMENT_NAME", messages: [{ role: "user", content: "Bonjour" }] })}'`
    : null;
  return (
    <EmptyState title={title}>
      <p>
        Each request through the gateway appears here within a minute. Make a first call:{" "}
        {model ? (
          <>
            with an <Link className="font-medium text-brand-700 underline" href={`/o/${org.slug}/api-keys`}>API key</Link> that has the inference scope, call{" "}
            <code className="rounded bg-slate-100 px-1 font-mono text-xs">{model}</code>.
          </>
        ) : (
          <>
            <Link className="font-medium text-brand-700 underline" href={`/o/${org.slug}/deployments`}>deploy a model</Link>, create an{" "}
            <Link className="font-medium text-brand-700 underline" href={`/o/${org.slug}/api-keys`}>API key</Link> with the inference scope, and call it with the deployment&apos;s name as{" "}
            <code className="rounded bg-slate-100 px-1 font-mono text-xs">model</code>.
          </>
        )}
      </p>
      {curl && (
        <div className="mt-3 flex min-w-0 items-start gap-2 text-left">
          <pre className="min-w-0 flex-1 whitespace-pre-wrap break-all rounded bg-slate-900 px-3 py-2 font-mono text-xs text-slate-100">
            <code>{curl}</code>
          </pre>
          <CopyButton text={curl} label="Copy the first call" />
        </div>
      )}
    </EmptyState>
  );
}
