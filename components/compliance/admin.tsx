"use client";
import { keepPreviousData } from "@tanstack/react-query";
import Link from "next/link";
import { ChartSkeleton } from "../charts/chart-figure";
import { PERIODS, periodPhrase, type Period } from "../charts/time-axis";
import { formatDateTime, formatNumber, formatRate } from "../format";
import { api, type RouterOutputs } from "../trpc";
import { Badge, PageHeader, Stat } from "../ui/layout";
import { SortableTable, type Column } from "../ui/sortable-table";
import { EmptyState, ErrorState } from "../ui/states";
import { PeriodSelector } from "../usage/dashboard";
import { useSearchParamChoice } from "../usage/url-state";

type All = RouterOutputs["compliance"]["adminOverview"];
type Row = All["organizations"][number];

const linkClass = "font-medium text-brand-700 underline-offset-2 hover:underline";

/** The compliance dashboard across organisations, for platform administrators (compliance.adminOverview). */
export function AdminCompliancePage() {
  const [period, setPeriod] = useSearchParamChoice<Period>("period", PERIODS, "30d");
  const query = api.compliance.adminOverview.useQuery({ period }, { refetchInterval: 120_000, placeholderData: keepPreviousData });
  const all = query.data;
  return (
    <>
      <PageHeader
        title="Compliance across organisations"
        description="Deployments by compliance status, exposure to extraterritorial law, guardrail outcomes, audit integrity and retention, for every organisation on the platform."
        actions={<PeriodSelector value={period} onChange={setPeriod} />}
      />
      <div className="space-y-6" data-testid="admin-compliance" aria-busy={query.isFetching || undefined}>
        {query.error && <ErrorState error={query.error} onRetry={() => void query.refetch()} />}
        {!all ? (
          !query.error && <ChartSkeleton height="h-40" />
        ) : (
          <div className={`space-y-6 ${query.isPlaceholderData ? "opacity-60" : ""}`}>
            <Totals all={all} />
            {all.organizations.length === 0 ? <EmptyState title="No organisation yet" /> : <Organizations rows={all.organizations} />}
            <p className="text-xs text-slate-600">
              Retention in force (the whole installation): traces {all.retention.traceDays} days, usage records {all.retention.usageRecordDays} days, roll-ups and audit logs indefinitely;{" "}
              {all.retention.meetsMinimum ? <Badge tone="good">AI Act six months met</Badge> : <Badge tone="bad">below the AI Act&apos;s six months</Badge>}{" "}
              {formatNumber(all.retention.keysCapturingContent)} of {formatNumber(all.retention.activeKeys)} active API keys capture content. Figures {periodPhrase(period)}.
            </p>
          </div>
        )}
      </div>
    </>
  );
}

function Totals({ all }: { all: All }) {
  const t = all.totals;
  return (
    <div className="grid grid-cols-2 gap-3 md:grid-cols-4">
      <Stat label="Non-compliant deployments" value={<span data-testid="admin-non-compliant">{formatNumber(t.nonCompliant)}</span>} hint={`of ${formatNumber(t.deployments)} in ${formatNumber(t.organizations)} organisations`} />
      <Stat label="In exposed regions" value={formatNumber(t.deploymentsInExposedRegions)} hint={`${formatNumber(t.exposedRequests)} requests (${formatRate(t.exposedRequests, t.totalRequests)})`} />
      <Stat label="Guardrail verdicts failed" value={formatNumber(t.guardrails.failed)} hint={`${formatNumber(t.guardrails.blocked)} blocked, of ${formatNumber(t.guardrails.checked)}`} />
      <Stat label="Audit logs" value={t.brokenChains ? `${formatNumber(t.brokenChains)} broken` : "All intact"} hint={`${formatNumber(t.organizationsWithoutCheckpoint)} without a checkpoint yet`} />
    </div>
  );
}

function Organizations({ rows }: { rows: Row[] }) {
  const columns: Column<Row>[] = [
    {
      key: "org",
      header: "Organisation",
      sortValue: (r) => r.organization.name,
      cell: (r) => (
        <>
          <Link className={linkClass} href={`/admin/organizations#org-${r.organization.slug}`}>{r.organization.name}</Link>
          <span className="block font-mono text-xs text-slate-500">{r.organization.slug}</span>
        </>
      ),
    },
    {
      key: "status",
      header: "Deployments",
      sortValue: (r) => r.deployments.nonCompliant,
      cell: (r) => (
        <span className="whitespace-normal">
          {r.deployments.nonCompliant ? <Badge tone="bad">{r.deployments.nonCompliant} non-compliant</Badge> : <Badge tone="good">compliant</Badge>}
          <span className="ml-1 text-xs text-slate-500">of {r.deployments.total}</span>
          {r.nonCompliantDeployments.map((d) => (
            <span key={d.id} className="block text-xs text-red-800" title={d.reasons.join("; ")}>
              {d.name} ({d.regionCode})
            </span>
          ))}
        </span>
      ),
    },
    {
      key: "exposure",
      header: "Exposure",
      sortValue: (r) => r.exposure.requests,
      cell: (r) =>
        r.exposure.regions.length ? (
          <span>
            <Badge tone="warn">{r.exposure.regions.join(", ")}</Badge>
            <span className="block text-xs text-slate-600">{formatNumber(r.exposure.requests)} req. ({formatRate(r.exposure.requests, r.exposure.totalRequests)})</span>
          </span>
        ) : (
          <span className="text-xs text-slate-500">none</span>
        ),
    },
    { key: "failed", header: "Verdicts failed", numeric: true, sortValue: (r) => r.guardrails.failed, cell: (r) => `${formatNumber(r.guardrails.failed)} / ${formatNumber(r.guardrails.checked)}` },
    {
      key: "audit",
      header: "Audit log",
      sortValue: (r) => (r.audit.verification.ok ? 1 : 0),
      cell: (r) => (
        <span>
          {r.audit.verification.ok ? <Badge tone="good">intact</Badge> : <Badge tone="bad">broken at #{r.audit.verification.brokenAtSeq}</Badge>}
          <span className="block text-xs text-slate-600">
            {r.audit.latestCheckpoint ? `checkpoint ${formatNumber(r.audit.latestCheckpoint.treeSize)}/${formatNumber(r.audit.events)}, ${formatDateTime(r.audit.latestCheckpoint.time)}` : `no checkpoint (${formatNumber(r.audit.events)} events)`}
          </span>
          {r.audit.lastWitnessedTreeSize !== null && <span className="block text-xs text-slate-500">witnessed {formatNumber(r.audit.lastWitnessedTreeSize)}</span>}
        </span>
      ),
    },
    { key: "capture", header: "Content capture", numeric: true, sortValue: (r) => r.retention.keysCapturingContent, cell: (r) => `${r.retention.keysCapturingContent} / ${r.retention.activeKeys} keys` },
  ];
  return (
    <SortableTable
      caption="Compliance per organisation"
      columns={columns}
      rows={rows}
      rowKey={(r) => r.organization.id}
      initialSort={{ key: "status", direction: "descending" }}
      testId="admin-compliance-table"
    />
  );
}
