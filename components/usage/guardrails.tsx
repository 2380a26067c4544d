"use client";
import { keepPreviousData } from "@tanstack/react-query";
import Link from "next/link";
import { ChartFigure, ChartLegend, ChartSkeleton, SERIES_COLORS } from "../charts/chart-figure";
import { TimeSeriesChart } from "../charts/time-series-chart";
import { bucketLabel, denseSeries, periodPhrase, type Period } from "../charts/time-axis";
import { formatCompact, formatNumber, formatRate } from "../format";
import { useCurrentOrg } from "../shell/org-context";
import { api, type RouterOutputs } from "../trpc";
import { Card } from "../ui/layout";
import { Segmented } from "../ui/segmented";
import { SortableTable, type Column } from "../ui/sortable-table";
import { ErrorState } from "../ui/states";
import { useSearchParamChoice } from "./url-state";

type Guardrails = RouterOutputs["usage"]["guardrails"];
type RuleRow = Guardrails["rules"][number];
type BreakdownRow = Guardrails["byDeployment"][number];

/** Dashboards refresh on their own: the workers roll new requests up within a minute. */
const REFRESH_MS = 30_000;

/** How a rule (check × stage) reads in the console. */
export const RULE_LABELS: Record<string, string> = {
  "schema.output": "JSON schema of the answer",
  "pii.input": "Personal data in the prompt",
  "pii.output": "Personal data in the answer",
  "grounded.output": "Groundedness of the answer",
};
export const ruleLabel = (rule: string) => RULE_LABELS[rule] ?? rule;

const GBY = ["deployment", "key"] as const;
type GuardrailBy = (typeof GBY)[number];

/**
 * The guardrail verdicts of the organisation, or of one deployment, over the period: headline
 * counts, a chart of the failed verdicts per bucket (recorded, redacted, blocked) and of the
 * errors, a table per check and one per deployment or key. From the roll-ups (usage.guardrails).
 */
export function GuardrailsPanel({ period, deploymentId }: { period: Period; deploymentId?: string }) {
  const org = useCurrentOrg();
  const [by, setBy] = useSearchParamChoice<GuardrailBy>("guardrailsBy", deploymentId ? ["key"] : GBY, deploymentId ? "key" : "deployment");
  const query = api.usage.guardrails.useQuery({ orgId: org.id, period, ...(deploymentId ? { deploymentId } : {}) }, { refetchInterval: REFRESH_MS, placeholderData: keepPreviousData });
  const g = query.data;
  return (
    <section aria-labelledby="guardrails-heading" className="space-y-3" data-testid="guardrails-panel">
      <h2 id="guardrails-heading" className="text-base font-semibold text-slate-800">
        Guardrails
      </h2>
      {query.error && <ErrorState error={query.error} onRetry={() => void query.refetch()} />}
      {!g ? (
        !query.error && <ChartSkeleton height="h-40" />
      ) : g.totals.checked === 0 ? (
        <p className="rounded-lg border border-dashed border-slate-300 bg-white px-4 py-6 text-sm text-slate-600" data-testid="guardrails-empty">
          No guardrail verdict {periodPhrase(period)}. The checks your organisation&apos;s policy turns on (personal data and JSON schemas, in observe mode, for a new
          organisation) record a verdict on every request they run on; it is counted here within a minute.
        </p>
      ) : (
        <div className={`space-y-4 transition-opacity ${query.isPlaceholderData ? "opacity-60" : ""}`} aria-busy={query.isPlaceholderData || undefined}>
          <Headline g={g} />
          <div className="grid gap-4 lg:grid-cols-2">
            <VerdictsChart g={g} />
            <RulesTable rules={g.rules} />
          </div>
          <div className="space-y-2">
            <div className="flex flex-col gap-2 sm:flex-row sm:items-center sm:justify-between">
              <h3 className="text-sm font-semibold text-slate-700">Verdicts by {by === "key" ? "API key" : "deployment"}</h3>
              {!deploymentId && <Segmented label="Guardrail verdicts by" options={[{ value: "deployment", label: "Per deployment" }, { value: "key", label: "Per key" }]} value={by} onChange={setBy} />}
            </div>
            <BreakdownTable by={by} rows={by === "key" ? g.byKey : g.byDeployment} />
          </div>
        </div>
      )}
    </section>
  );
}

function Headline({ g }: { g: Guardrails }) {
  const t = g.totals;
  const items: { label: string; value: string; hint: string; testId: string }[] = [
    { label: "Checked", value: formatNumber(t.checked), hint: `verdicts ${periodPhrase(g.period)}`, testId: "guardrails-checked" },
    { label: "Failed", value: formatNumber(t.failed), hint: `${formatRate(t.failed, t.checked)} of verdicts`, testId: "guardrails-failed" },
    { label: "Redacted", value: formatNumber(t.redacted), hint: "data replaced by placeholders", testId: "guardrails-redacted" },
    { label: "Blocked", value: formatNumber(t.blocked), hint: "requests or answers refused", testId: "guardrails-blocked" },
  ];
  return (
    <dl className="grid grid-cols-2 gap-3 lg:grid-cols-4">
      {items.map((i) => (
        <div key={i.label} className="min-w-0 rounded-lg border border-slate-200 bg-white p-3 shadow-sm sm:p-4">
          <dt className="text-xs font-medium uppercase tracking-wide text-slate-500">{i.label}</dt>
          <dd className="mt-1 text-xl font-semibold tabular-nums sm:text-2xl" data-testid={i.testId}>
            {i.value}
          </dd>
          <dd className="mt-0.5 text-xs text-slate-500">{i.hint}</dd>
        </div>
      ))}
    </dl>
  );
}

function VerdictsChart({ g }: { g: Guardrails }) {
  const points = denseSeries(g, g.series, (p) => ({ checked: p?.checked ?? 0, flagged: p?.flagged ?? 0, redacted: p?.redacted ?? 0, blocked: p?.blocked ?? 0, errors: p?.errors ?? 0 }));
  const t = g.totals;
  const summary =
    `${formatNumber(t.checked)} verdicts ${periodPhrase(g.period)}: ${formatNumber(t.flagged)} failed and recorded, ${formatNumber(t.redacted)} redacted, ` +
    `${formatNumber(t.blocked)} blocked, ${formatNumber(t.errors)} errors.`;
  const series = [
    { key: "flagged" as const, label: "Failed (recorded)", color: SERIES_COLORS.warn },
    { key: "redacted" as const, label: "Redacted", color: SERIES_COLORS.secondary, hatched: true },
    { key: "blocked" as const, label: "Blocked", color: SERIES_COLORS.bad },
    { key: "errors" as const, label: "Errors", color: SERIES_COLORS.muted, hatched: true },
  ];
  return (
    <ChartFigure
      title="Failed verdicts over time"
      summary={summary}
      testId="chart-guardrails"
      legend={<ChartLegend items={series.map((s) => ({ label: s.label, color: s.color, kind: "box", hatched: s.hatched }))} />}
      table={{
        head: ["Time", "Checked", "Failed (recorded)", "Redacted", "Blocked", "Errors"],
        rows: points.filter((p) => p.checked > 0).map((p) => [bucketLabel(p.t, g.bucket), formatNumber(p.checked), formatNumber(p.flagged), formatNumber(p.redacted), formatNumber(p.blocked), formatNumber(p.errors)]),
      }}
    >
      <TimeSeriesChart data={points} period={g.period} bucket={g.bucket} kind="bars" format={formatNumber} axisFormat={formatCompact} series={series} />
    </ChartFigure>
  );
}

/** One row per check: checked, failed (whatever the action), of which redacted and blocked, and errors. */
export function RulesTable({ rules, compact = false }: { rules: RuleRow[]; compact?: boolean }) {
  return (
    <div className="min-w-0 overflow-x-auto rounded-lg border border-slate-200 bg-white shadow-sm">
      <table className="min-w-full divide-y divide-slate-200 text-sm" data-testid="guardrail-rules">
        <caption className="sr-only">Guardrail verdicts per check</caption>
        <thead className="bg-slate-50">
          <tr className="text-xs uppercase tracking-wide text-slate-600">
            <th scope="col" className="px-2.5 py-2 text-left font-semibold">Check</th>
            <th scope="col" className="px-2.5 py-2 text-right font-semibold">Checked</th>
            <th scope="col" className="px-2.5 py-2 text-right font-semibold">Failed</th>
            <th scope="col" className="px-2.5 py-2 text-right font-semibold">Redacted</th>
            <th scope="col" className="px-2.5 py-2 text-right font-semibold">Blocked</th>
            {!compact && <th scope="col" className="px-2.5 py-2 text-right font-semibold">Errors</th>}
          </tr>
        </thead>
        <tbody className="divide-y divide-slate-100">
          {rules.map((r) => (
            <tr key={r.rule} data-rule={r.rule} className={r.checked === 0 ? "text-slate-400" : ""}>
              <th scope="row" className="px-2.5 py-1.5 text-left font-normal">
                <span className="font-medium">{ruleLabel(r.rule)}</span>
                <code className="block font-mono text-[11px] text-slate-500">{r.rule}</code>
              </th>
              <td className="px-2.5 py-1.5 text-right tabular-nums" data-cell="checked" data-count={r.checked}>{formatNumber(r.checked)}</td>
              <td className="px-2.5 py-1.5 text-right tabular-nums" data-cell="failed" data-count={r.failed}>
                {formatNumber(r.failed)}
                {r.checked > 0 && <span className="block text-[11px] text-slate-500">{formatRate(r.failed, r.checked)}</span>}
              </td>
              <td className="px-2.5 py-1.5 text-right tabular-nums" data-cell="redacted" data-count={r.redacted}>{formatNumber(r.redacted)}</td>
              <td className="px-2.5 py-1.5 text-right tabular-nums" data-cell="blocked" data-count={r.blocked}>{formatNumber(r.blocked)}</td>
              {!compact && <td className="px-2.5 py-1.5 text-right tabular-nums" data-cell="errors" data-count={r.errors}>{formatNumber(r.errors)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
      <p className="border-t border-slate-100 px-2.5 py-1.5 text-xs text-slate-500">
        Failed: the check found something (personal data, an invalid answer, an unsupported claim), whether it was only recorded, redacted or blocked.
      </p>
    </div>
  );
}

function BreakdownTable({ by, rows }: { by: GuardrailBy; rows: BreakdownRow[] }) {
  const org = useCurrentOrg();
  if (rows.length === 0) return <p className="text-sm text-slate-600">No verdicts.</p>;
  const nameCell = (r: BreakdownRow) =>
    r.id ? (
      <Link className="font-medium text-brand-700 underline-offset-2 hover:underline" href={by === "deployment" ? `/o/${org.slug}/deployments/${r.id}` : `/o/${org.slug}/api-keys`}>
        {r.name}
      </Link>
    ) : (
      <span className="font-medium">{r.name}</span>
    );
  const failedOf = (r: BreakdownRow) =>
    r.rules
      .filter((x) => x.failed > 0)
      .map((x) => `${ruleLabel(x.rule)}: ${formatNumber(x.failed)}`)
      .join(" · ");
  const columns: Column<BreakdownRow>[] = [
    { key: "name", header: by === "key" ? "API key" : "Deployment", sortValue: (r) => r.name, cell: nameCell },
    { key: "checked", header: "Checked", numeric: true, sortValue: (r) => r.checked, cell: (r) => formatNumber(r.checked) },
    { key: "failed", header: "Failed", numeric: true, sortValue: (r) => r.failed, cell: (r) => formatNumber(r.failed) },
    { key: "redacted", header: "Redacted", numeric: true, sortValue: (r) => r.redacted, cell: (r) => formatNumber(r.redacted) },
    { key: "blocked", header: "Blocked", numeric: true, sortValue: (r) => r.blocked, cell: (r) => formatNumber(r.blocked) },
    { key: "errors", header: "Errors", numeric: true, sortValue: (r) => r.errors, cell: (r) => formatNumber(r.errors) },
    { key: "which", header: "Failed checks", cell: (r) => <span className="whitespace-normal text-xs text-slate-600">{failedOf(r) || "—"}</span> },
  ];
  return (
    <SortableTable
      caption={`Guardrail verdicts by ${by === "key" ? "API key" : "deployment"}`}
      columns={columns}
      rows={rows}
      rowKey={(r) => r.id || "(none)"}
      initialSort={{ key: "failed", direction: "descending" }}
      testId="guardrails-breakdown"
    />
  );
}

/** The compliance page's counts: the last 30 days per check, with a link to the usage page's panel. */
export function GuardrailComplianceCard() {
  const org = useCurrentOrg();
  const period: Period = "30d";
  const query = api.usage.guardrails.useQuery({ orgId: org.id, period });
  const g = query.data;
  return (
    <Card title="Guardrail verdicts">
      <div className="space-y-3" data-testid="compliance-guardrails">
        <p className="text-sm text-slate-600">
          Every request the gateway checks leaves a verdict in its trace (types, counts and positions of what was found, never the data itself) and is counted here, {periodPhrase(period)}.{" "}
          <Link className="font-medium text-brand-700 underline-offset-2 hover:underline" href={`/o/${org.slug}/usage?period=30d#guardrails-heading`}>
            Over time, per deployment and key
          </Link>
          .
        </p>
        {query.error ? (
          <ErrorState error={query.error} onRetry={() => void query.refetch()} />
        ) : !g ? (
          <ChartSkeleton height="h-24" />
        ) : (
          <RulesTable rules={g.rules} compact />
        )}
      </div>
    </Card>
  );
}
