"use client";
import { keepPreviousData } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";
import { CapacityChart } from "../charts/capacity-chart";
import { ChartSkeleton } from "../charts/chart-figure";
import { PERIODS, periodPhrase, type Period } from "../charts/time-axis";
import type { CapacitySeries } from "../charts/usage-types";
import { formatMicroEur, formatMs, formatNumber, formatRate } from "../format";
import { api, type RouterOutputs } from "../trpc";
import { PageHeader, Stat } from "../ui/layout";
import { SortableTable, type Column } from "../ui/sortable-table";
import { EmptyState, ErrorState } from "../ui/states";
import { PeriodSelector } from "../usage/dashboard";
import { useSearchParamChoice } from "../usage/url-state";

const REFRESH_MS = 60_000;
const SLOWEST_LIMIT = 10;

type OrganizationRow = RouterOutputs["admin"]["dashboard"]["organizations"]["rows"][number];
type SlowDeploymentRow = RouterOutputs["admin"]["dashboard"]["slowestDeployments"]["rows"][number];

const linkClass = "font-medium text-brand-700 underline-offset-2 hover:underline";

/**
 * The platform at a glance: GPUs allocated against capacity per region and GPU type, spend and
 * errors per organisation and region, and the deployments that answer slowest.
 */
export function AdminDashboardPage() {
  const [period, setPeriod] = useSearchParamChoice<Period>("period", PERIODS, "7d");
  const options = { refetchInterval: REFRESH_MS, placeholderData: keepPreviousData };
  const capacity = api.admin.dashboard.capacity.useQuery({ period }, options);
  const organizations = api.admin.dashboard.organizations.useQuery({ period }, options);
  const slowest = api.admin.dashboard.slowestDeployments.useQuery({ period, limit: SLOWEST_LIMIT }, options);
  // Charts draw the period up to the moment the data was read.
  const [now] = useState(() => Date.now());

  const failed = [capacity, organizations, slowest].filter((q) => q.error);
  return (
    <>
      <PageHeader
        title="Platform dashboard"
        description="GPU capacity in use across regions, what each organisation spends and how often it fails, and the slowest deployments."
        actions={<PeriodSelector value={period} onChange={setPeriod} />}
      />
      <div className="space-y-8">
        {failed.length > 0 && (
          <ErrorState error={{ message: [...new Set(failed.map((q) => q.error!.message))].join(" · ") }} onRetry={() => failed.forEach((q) => void q.refetch())} />
        )}
        <section aria-labelledby="admin-capacity" className="space-y-3">
          <h2 id="admin-capacity" className="text-base font-semibold text-slate-800">
            GPUs allocated vs capacity
          </h2>
          {capacity.data ? <Capacity series={capacity.data.series} period={period} now={now} /> : !capacity.error && <SkeletonGrid />}
        </section>
        <section aria-labelledby="admin-organizations" className="space-y-3">
          <h2 id="admin-organizations" className="text-base font-semibold text-slate-800">
            Spend and errors by organisation and region
          </h2>
          {organizations.data ? <Organizations rows={organizations.data.rows} period={period} /> : !organizations.error && <ChartSkeleton height="h-24" />}
        </section>
        <section aria-labelledby="admin-slowest" className="space-y-3">
          <h2 id="admin-slowest" className="text-base font-semibold text-slate-800">
            Slowest deployments
          </h2>
          {slowest.data ? <Slowest rows={slowest.data.rows} period={period} /> : !slowest.error && <ChartSkeleton height="h-24" />}
        </section>
      </div>
    </>
  );
}

function SkeletonGrid() {
  return (
    <div role="status" className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
      <span className="sr-only">Loading capacity…</span>
      <ChartSkeleton height="h-40" />
      <ChartSkeleton height="h-40" />
    </div>
  );
}

function Capacity({ series, period, now }: { series: CapacitySeries[]; period: Period; now: number }) {
  if (series.length === 0) return <EmptyState title="No GPU capacity recorded">Regions with GPU capacity appear here once the workers have sampled them (every hour).</EmptyState>;
  const latestOf = (s: CapacitySeries) => [...s.points].sort((a, b) => new Date(b.t).getTime() - new Date(a.t).getTime())[0];
  const utilisation = (s: CapacitySeries) => {
    const p = latestOf(s);
    return p?.capacity ? (p.allocated ?? 0) / p.capacity : 0;
  };
  const latest = series.map(latestOf).filter(Boolean);
  const allocated = latest.reduce((n, p) => n + (p.allocated ?? 0), 0);
  const total = latest.reduce((n, p) => n + (p.capacity ?? 0), 0);
  // The busiest first: that is where capacity runs out.
  const sorted = [...series].sort((a, b) => utilisation(b) - utilisation(a) || a.regionName.localeCompare(b.regionName) || a.gpuTypeName.localeCompare(b.gpuTypeName));
  return (
    <>
      <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
        <Stat label="GPUs allocated" value={<span data-testid="admin-gpus-allocated">{formatNumber(allocated)}</span>} hint="latest sample" />
        <Stat label="Capacity" value={formatNumber(total)} hint={`${sorted.length} region × GPU type pair(s)`} />
        <Stat label="Utilisation" value={formatRate(allocated, total)} />
      </div>
      <div className="grid gap-4 md:grid-cols-2 xl:grid-cols-3">
        {sorted.map((s) => (
          <CapacityChart key={`${s.regionId}-${s.gpuTypeId}`} series={s} period={period} now={now} />
        ))}
      </div>
    </>
  );
}

function Organizations({ rows, period }: { rows: OrganizationRow[]; period: Period }) {
  if (rows.length === 0) return <EmptyState title={`No requests on the platform ${periodPhrase(period)}`} />;
  const columns: Column<OrganizationRow>[] = [
    {
      key: "org",
      header: "Organisation",
      sortValue: (r) => r.name,
      cell: (r) => (
        <>
          <Link className={linkClass} href={`/admin/organizations#org-${r.slug}`}>{r.name}</Link>
          <span className="block font-mono text-xs text-slate-500">{r.slug}</span>
        </>
      ),
    },
    {
      key: "region",
      header: "Region",
      sortValue: (r) => r.regionCode,
      cell: (r) =>
        r.regionCode ? (
          <Link className={`${linkClass} font-mono text-xs`} href="/admin/regions">{r.regionCode}</Link>
        ) : (
          <span className="text-xs text-slate-500" title="Refused before a region was chosen (authentication, limits, policy)">none</span>
        ),
    },
    { key: "requests", header: "Requests", numeric: true, sortValue: (r) => r.requests, cell: (r) => formatNumber(r.requests) },
    { key: "errors", header: "Errors", numeric: true, sortValue: (r) => r.errors, cell: (r) => formatNumber(r.errors) },
    { key: "errorRate", header: "Error rate", numeric: true, sortValue: (r) => (r.requests ? r.errors / r.requests : null), cell: (r) => formatRate(r.errors, r.requests) },
    { key: "spend", header: "Spend", numeric: true, sortValue: (r) => r.costMicroEur, cell: (r) => formatMicroEur(r.costMicroEur) },
  ];
  return (
    <SortableTable
      caption="Spend and errors by organisation and region"
      columns={columns}
      rows={rows}
      rowKey={(r) => `${r.orgId}-${r.regionId ?? "none"}`}
      initialSort={{ key: "spend", direction: "descending" }}
      testId="admin-organizations"
    />
  );
}

function Slowest({ rows, period }: { rows: SlowDeploymentRow[]; period: Period }) {
  if (rows.length === 0) return <EmptyState title={`No requests to any deployment ${periodPhrase(period)}`} />;
  const columns: Column<SlowDeploymentRow>[] = [
    { key: "deployment", header: "Deployment", sortValue: (r) => r.deploymentName, cell: (r) => <span className="font-medium">{r.deploymentName}</span> },
    { key: "org", header: "Organisation", sortValue: (r) => r.orgName, cell: (r) => <Link className={linkClass} href={`/admin/organizations#org-${r.orgSlug}`}>{r.orgName}</Link> },
    { key: "region", header: "Region", sortValue: (r) => r.regionCode, cell: (r) => <Link className={`${linkClass} font-mono text-xs`} href="/admin/regions">{r.regionCode}</Link> },
    { key: "requests", header: "Requests", numeric: true, sortValue: (r) => r.requests, cell: (r) => formatNumber(r.requests) },
    { key: "p50", header: "p50", numeric: true, sortValue: (r) => r.latencyMs.p50, cell: (r) => formatMs(r.latencyMs.p50) },
    { key: "p95", header: "p95", numeric: true, sortValue: (r) => r.latencyMs.p95, cell: (r) => formatMs(r.latencyMs.p95) },
    { key: "p99", header: "p99", numeric: true, sortValue: (r) => r.latencyMs.p99, cell: (r) => formatMs(r.latencyMs.p99) },
    { key: "ttft", header: "TTFT p95", numeric: true, sortValue: (r) => r.ttftMs.p95, cell: (r) => formatMs(r.ttftMs.p95) },
  ];
  return (
    <SortableTable
      caption="Slowest deployments"
      columns={columns}
      rows={rows}
      rowKey={(r) => r.deploymentId}
      initialSort={{ key: "p95", direction: "descending" }}
      testId="admin-slowest"
    />
  );
}
