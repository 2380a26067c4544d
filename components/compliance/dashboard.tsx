"use client";
import { keepPreviousData } from "@tanstack/react-query";
import Link from "next/link";
import type { ReactNode } from "react";
import { roleAtLeast } from "@/lib/roles";
import { ChartFigure, ChartLegend, ChartSkeleton, SERIES_COLORS } from "../charts/chart-figure";
import { TimeSeriesChart } from "../charts/time-series-chart";
import { bucketLabel, denseSeries, PERIODS, periodPhrase, type Period } from "../charts/time-axis";
import { formatCompact, formatDateTime, formatNumber, formatRate } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Badge, Card, PageHeader } from "../ui/layout";
import { ErrorState } from "../ui/states";
import { PeriodSelector } from "../usage/dashboard";
import { RulesTable } from "../usage/guardrails";
import { useSearchParamChoice } from "../usage/url-state";
import { AuditTrail, ResidencyPolicies } from "./audit-trail";
import { DownloadReport } from "./download-report";
import { AuditCheckpointCard } from "../audit/audit-integrity";
import { AuditIntegrityCard } from "./integrity";

export type Overview = RouterOutputs["compliance"]["overview"];

const REFRESH_MS = 60_000;
export const linkClass = "font-medium text-brand-700 underline-offset-2 hover:underline";

/**
 * The organisation's compliance dashboard (docs/compliance.md): deployments by compliance status,
 * exposure to extraterritorial law, guardrail outcomes, audit integrity and retention in force
 * over a period kept in the URL; the report for a chosen period; the residency policy and the
 * audit trail. One read (compliance.overview) feeds every card.
 */
export function ComplianceDashboard() {
  const org = useCurrentOrg();
  const [period, setPeriod] = useSearchParamChoice<Period>("period", PERIODS, "30d");
  const query = api.compliance.overview.useQuery({ orgId: org.id, period }, { refetchInterval: REFRESH_MS, placeholderData: keepPreviousData });
  const o = query.data;
  return (
    <>
      <PageHeader
        title="Compliance"
        description="Where your deployments run and under which law, what the guardrails caught, whether the audit log is intact and signed, and how long logs are kept — with a report for auditors."
        actions={<PeriodSelector value={period} onChange={setPeriod} />}
      />
      <div className="space-y-6" data-testid="compliance-dashboard" aria-busy={query.isFetching || undefined}>
        {query.error && <ErrorState error={query.error} onRetry={() => void query.refetch()} />}
        {!o ? (
          !query.error && (
            <div className="grid gap-4 md:grid-cols-2" aria-label="Loading the compliance dashboard">
              <ChartSkeleton height="h-28" />
              <ChartSkeleton height="h-28" />
              <ChartSkeleton height="h-40" />
              <ChartSkeleton height="h-40" />
            </div>
          )
        ) : (
          <div className={`space-y-6 transition-opacity ${query.isPlaceholderData ? "opacity-60" : ""}`}>
            <StatusTiles o={o} />
            <div className="grid grid-cols-1 gap-6 lg:grid-cols-2">
              <ExposureCard o={o} />
              <div className="space-y-6">
                <AuditIntegrityCard audit={o.audit} />
                <AuditCheckpointCard orgId={org.id} canSign={roleAtLeast(org.role, "ADMIN")} />
              </div>
            </div>
            <GuardrailsCard o={o} />
            <div className="grid grid-cols-1 gap-6 lg:grid-cols-2">
              <RetentionCard o={o} />
              <ReportCard />
            </div>
          </div>
        )}
        <ResidencyPolicies />
        {roleAtLeast(org.role, "ADMIN") ? (
          <AuditTrail />
        ) : (
          <Card title="Audit trail">
            <p className="text-sm text-slate-600">The audit trail is visible to admins and owners.</p>
          </Card>
        )}
      </div>
    </>
  );
}

function Tile({ label, value, hint, tone, testId }: { label: string; value: ReactNode; hint?: ReactNode; tone: "good" | "bad" | "neutral"; testId: string }) {
  const ring = tone === "bad" ? "border-red-300 bg-red-50" : tone === "good" ? "border-emerald-200 bg-white" : "border-slate-200 bg-white";
  return (
    <div className={`min-w-0 rounded-lg border p-3 shadow-sm sm:p-4 ${ring}`}>
      <dt className="text-xs font-medium uppercase tracking-wide text-slate-500">{label}</dt>
      <dd className={`mt-1 text-2xl font-semibold tabular-nums ${tone === "bad" ? "text-red-800" : ""}`} data-testid={testId}>
        {value}
      </dd>
      {hint && <dd className="mt-0.5 text-xs text-slate-600">{hint}</dd>}
    </div>
  );
}

function StatusTiles({ o }: { o: Overview }) {
  const org = useCurrentOrg();
  const d = o.deployments;
  const bad = d.items.filter((x) => x.status === "non_compliant");
  return (
    <section aria-labelledby="compliance-status" className="space-y-3">
      <h2 id="compliance-status" className="text-base font-semibold text-slate-800">
        Deployments by compliance status
      </h2>
      <dl className="grid grid-cols-2 gap-3 lg:grid-cols-4">
        <Tile label="Compliant" value={formatNumber(d.compliant)} hint={`of ${formatNumber(d.total)} live deployments`} tone={d.total > 0 && d.nonCompliant === 0 ? "good" : "neutral"} testId="tile-compliant" />
        <Tile label="Non-compliant" value={formatNumber(d.nonCompliant)} hint={d.nonCompliant ? "their residency policy refuses their region" : "every deployment follows its policy"} tone={d.nonCompliant ? "bad" : "good"} testId="tile-non-compliant" />
        <Tile
          label="In exposed regions"
          value={formatNumber(o.exposure.deploymentsInExposedRegions)}
          hint="deployments under non-EU law with extraterritorial reach"
          tone={o.exposure.deploymentsInExposedRegions ? "bad" : "good"}
          testId="tile-exposed"
        />
        <Tile
          label="Audit log"
          value={o.audit.verification.ok ? "Intact" : "Broken"}
          hint={o.audit.verification.ok ? `${formatNumber(o.audit.events)} events` : `at event #${o.audit.verification.brokenAtSeq}`}
          tone={o.audit.verification.ok ? "good" : "bad"}
          testId="tile-audit"
        />
      </dl>
      {d.total === 0 ? (
        <p className="rounded-lg border border-dashed border-slate-300 bg-white px-4 py-4 text-sm text-slate-600">
          No live deployment yet. <Link className={linkClass} href={`/o/${org.slug}/deployments/new`}>Deploy a model</Link> and its residency verdict shows here.
        </p>
      ) : (
        <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200 bg-white shadow-sm" aria-label="Deployments and their residency verdicts" data-testid="compliance-deployments">
          {d.items.map((x) => (
            <li key={x.deploymentId} className="flex flex-col gap-1 px-3 py-2 text-sm sm:flex-row sm:items-start sm:justify-between" data-status={x.status}>
              <div className="min-w-0">
                <Link className={linkClass} href={`/o/${org.slug}/deployments/${x.deploymentId}`}>
                  {x.deploymentName}
                </Link>
                <span className="ml-2 text-xs text-slate-500">
                  {x.dataClassification} · {x.regionName} ({x.regionCode}){x.extraterritorialExposure ? " · exposed" : ""}
                </span>
                {x.status === "non_compliant" && x.reasons.length > 0 && (
                  <ul className="mt-1 list-disc pl-5 text-xs text-red-800">
                    {x.reasons.map((r) => (
                      <li key={r}>{r}</li>
                    ))}
                  </ul>
                )}
              </div>
              <span className="shrink-0">
                {x.status === "compliant" ? <Badge tone="good">Compliant</Badge> : <Badge tone="bad">Non-compliant</Badge>}
                {x.policy === "none" && <span className="ml-1"><Badge>No policy</Badge></span>}
              </span>
            </li>
          ))}
        </ul>
      )}
      {bad.length > 0 && (
        <p className="text-xs text-slate-600">
          Fix a non-compliant deployment by moving it to a region its policy allows, or change the <Link className={linkClass} href={`/o/${org.slug}/residency`}>residency policy</Link>.
        </p>
      )}
    </section>
  );
}

function ExposureCard({ o }: { o: Overview }) {
  const e = o.exposure;
  return (
    <Card title="Exposure to extraterritorial law">
      <div className="space-y-3 text-sm" data-testid="compliance-exposure">
        {e.regions.length === 0 ? (
          <p className="text-slate-600">
            <Badge tone="good">None</Badge> No deployment and no request {periodPhrase(o.period)} in a region whose operator answers to non-EU law with extraterritorial reach.
          </p>
        ) : (
          <>
            <p className="text-slate-700">
              <strong className="tabular-nums" data-testid="exposure-requests">{formatNumber(e.requests)}</strong> of {formatNumber(e.totalRequests)} requests ({formatRate(e.requests, e.totalRequests)}) and{" "}
              {formatNumber(e.tokensIn + e.tokensOut)} tokens {periodPhrase(o.period)} were served from exposed regions.
            </p>
            <ul className="space-y-2">
              {e.regions.map((r) => (
                <li key={r.id} className="rounded-md border border-amber-200 bg-amber-50 px-3 py-2">
                  <p className="font-medium">
                    {r.name} ({r.code}) <Badge tone="warn">{r.jurisdiction} law</Badge>
                  </p>
                  {r.exposureNote && <p className="text-xs text-slate-600">{r.exposureNote}</p>}
                  <p className="text-xs text-slate-700">
                    {formatNumber(r.requests)} requests · {r.deployments.length ? `deployments: ${r.deployments.map((d) => d.name).join(", ")}` : "no live deployment"}
                  </p>
                </li>
              ))}
            </ul>
          </>
        )}
      </div>
    </Card>
  );
}

function GuardrailsCard({ o }: { o: Overview }) {
  const org = useCurrentOrg();
  const g = o.guardrails;
  const points = denseSeries({ bucket: o.bucket, from: o.from, to: o.to }, g.series, (p) => ({ flagged: p?.flagged ?? 0, redacted: p?.redacted ?? 0, blocked: p?.blocked ?? 0, errors: p?.errors ?? 0, checked: p?.checked ?? 0 }));
  const series = [
    { key: "flagged" as const, label: "Failed (recorded)", color: SERIES_COLORS.warn },
    { key: "redacted" as const, label: "Redacted", color: SERIES_COLORS.secondary, hatched: true },
    { key: "blocked" as const, label: "Blocked", color: SERIES_COLORS.bad },
    { key: "errors" as const, label: "Errors", color: SERIES_COLORS.muted, hatched: true },
  ];
  const t = g.totals;
  return (
    <Card title="Guardrail outcomes">
      <div className="space-y-3" data-testid="compliance-guardrails">
        <p className="text-sm text-slate-600">
          Every request the gateway checks leaves a verdict in its trace (types, counts and positions of what was found, never the data itself): {formatNumber(t.checked)} verdicts {periodPhrase(o.period)},{" "}
          {formatNumber(t.failed)} failed ({formatRate(t.failed, t.checked)}), {formatNumber(t.blocked)} blocked.{" "}
          <Link className={linkClass} href={`/o/${org.slug}/usage?period=${o.period}#guardrails-heading`}>
            Over time, per deployment and key
          </Link>
          .
        </p>
        {t.checked === 0 ? (
          <p className="rounded-lg border border-dashed border-slate-300 px-4 py-4 text-sm text-slate-600">No guardrail verdict {periodPhrase(o.period)}.</p>
        ) : (
          <div className="grid grid-cols-1 gap-4 lg:grid-cols-2">
            <ChartFigure
              title="Failed verdicts over time"
              summary={`${formatNumber(t.flagged)} failed and recorded, ${formatNumber(t.redacted)} redacted, ${formatNumber(t.blocked)} blocked, ${formatNumber(t.errors)} errors ${periodPhrase(o.period)}.`}
              testId="chart-compliance-guardrails"
              legend={<ChartLegend items={series.map((s) => ({ label: s.label, color: s.color, kind: "box", hatched: s.hatched }))} />}
              table={{
                head: ["Time", "Checked", "Failed (recorded)", "Redacted", "Blocked", "Errors"],
                rows: points.filter((p) => p.checked > 0).map((p) => [bucketLabel(p.t, o.bucket), formatNumber(p.checked), formatNumber(p.flagged), formatNumber(p.redacted), formatNumber(p.blocked), formatNumber(p.errors)]),
              }}
            >
              <TimeSeriesChart data={points} period={o.period} bucket={o.bucket} kind="bars" format={formatNumber} axisFormat={formatCompact} series={series} />
            </ChartFigure>
            <RulesTable rules={g.rules} compact />
          </div>
        )}
      </div>
    </Card>
  );
}

function RetentionCard({ o }: { o: Overview }) {
  const r = o.retention;
  const row = (label: string, value: ReactNode, ok?: boolean) => (
    <div className="flex items-baseline justify-between gap-3 py-1.5">
      <dt className="text-slate-600">{label}</dt>
      <dd className="text-right font-medium tabular-nums">
        {value} {ok === false && <Badge tone="bad">below 6 months</Badge>}
      </dd>
    </div>
  );
  return (
    <Card title="Retention in force">
      <dl className="divide-y divide-slate-100 text-sm" data-testid="compliance-retention">
        {row("Traces (every request)", `${formatNumber(r.traceDays)} days`, r.traceDays >= r.minimumDays)}
        {row("Usage records", `${formatNumber(r.usageRecordDays)} days`, r.usageRecordDays >= r.minimumDays)}
        {row("Usage roll-ups and audit log", "indefinitely")}
        {row("Content capture", r.keysCapturingContent === 0 ? `off on all ${formatNumber(r.activeKeys)} active keys` : `on for ${formatNumber(r.keysCapturingContent)} of ${formatNumber(r.activeKeys)} active keys`)}
      </dl>
      <p className="mt-2 text-xs text-slate-600">
        {r.meetsMinimum ? <Badge tone="good">AI Act: met</Badge> : <Badge tone="bad">AI Act: not met</Badge>} Articles 19(1) and 26(6) ask for logs kept at least six months ({r.minimumDays} days).
      </p>
    </Card>
  );
}

function ReportCard() {
  const org = useCurrentOrg();
  return (
    <Card title="Compliance report">
      <p className="mb-3 text-sm text-slate-600">
        For auditors: AI Act logging (Art. 12, 19, 26(6)) and GDPR residency over a period you choose, bound to the audit log&apos;s signed checkpoint. PDF for people, JSON (with its{" "}
        <a className={linkClass} href="/api/v1/schemas/compliance-report.json">published schema</a>) for machines.
      </p>
      {roleAtLeast(org.role, "ADMIN") ? <DownloadReport /> : <p className="text-sm text-slate-600">Admins and owners can download the report.</p>}
    </Card>
  );
}

export function checkpointSummary(c: { treeSize: number; time: string } | null) {
  return c ? `${formatNumber(c.treeSize)} events, signed ${formatDateTime(c.time)}` : "none yet";
}
