"use client";
import { Bar, BarChart, CartesianGrid, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatCompact, formatMicroEur, formatMs, formatNumber, formatRate } from "../format";
import { ChartFigure, ChartLegend, SERIES_COLORS } from "./chart-figure";
import { TimeSeriesChart } from "./time-series-chart";
import { bucketLabel, denseSeries, periodPhrase } from "./time-axis";
import type { Distribution, UsageSummary } from "./usage-types";

type DensePoint = ReturnType<typeof densePoints>[number];

/** The summary's series with every bucket of the period present (empty ones as zero / no latency). */
export function densePoints(summary: UsageSummary) {
  return denseSeries(summary, summary.series, (p) => ({
    requests: p?.requests ?? 0,
    succeeded: (p?.requests ?? 0) - (p?.errors ?? 0),
    errors: p?.errors ?? 0,
    tokensIn: p?.tokensIn ?? 0,
    tokensOut: p?.tokensOut ?? 0,
    costMicroEur: p?.costMicroEur ?? 0,
    latencyP50: p?.latencyMs.p50 ?? null,
    latencyP95: p?.latencyMs.p95 ?? null,
    latencyP99: p?.latencyMs.p99 ?? null,
    ttftP50: p?.ttftMs.p50 ?? null,
    ttftP95: p?.ttftMs.p95 ?? null,
  }));
}

const bucketWord = (summary: UsageSummary) => (summary.bucket === "hour" ? "hour" : "day");
const withTraffic = (points: DensePoint[]) => points.filter((p) => p.requests > 0);
const maxBy = <T,>(items: T[], value: (item: T) => number | null): T | undefined =>
  items.reduce<T | undefined>((best, item) => ((value(item) ?? -Infinity) > (best === undefined ? -Infinity : (value(best) ?? -Infinity)) ? item : best), undefined);
const omittedNote = "Periods without requests are left out.";

export function RequestsChart({ summary, points }: { summary: UsageSummary; points: DensePoint[] }) {
  const busiest = maxBy(points, (p) => p.requests);
  const { requests, errors } = summary.totals;
  const summaryText =
    `${formatNumber(requests)} requests ${periodPhrase(summary.period)}, ${formatNumber(errors)} failed (${formatRate(errors, requests)}).` +
    (busiest && busiest.requests > 0 ? ` Busiest ${bucketWord(summary)}: ${bucketLabel(busiest.t, summary.bucket)}, ${formatNumber(busiest.requests)} requests.` : "");
  return (
    <ChartFigure
      title="Requests and errors"
      summary={summaryText}
      testId="chart-requests"
      legend={<ChartLegend items={[{ label: "Succeeded", color: SERIES_COLORS.primary, kind: "box" }, { label: "Failed", color: SERIES_COLORS.bad, kind: "box", hatched: true }]} />}
      table={{ head: ["Time", "Requests", "Failed"], rows: withTraffic(points).map((p) => [bucketLabel(p.t, summary.bucket), formatNumber(p.requests), formatNumber(p.errors)]) }}
    >
      <TimeSeriesChart
        data={points}
        period={summary.period}
        bucket={summary.bucket}
        kind="bars"
        format={formatNumber}
        axisFormat={formatCompact}
        series={[
          { key: "succeeded", label: "Succeeded", color: SERIES_COLORS.primary },
          { key: "errors", label: "Failed", color: SERIES_COLORS.bad, hatched: true },
        ]}
      />
    </ChartFigure>
  );
}

export function LatencyChart({ summary, points }: { summary: UsageSummary; points: DensePoint[] }) {
  const { p50, p95, p99 } = summary.totals.latencyMs;
  const slowest = maxBy(points, (p) => p.latencyP95);
  const summaryText =
    p50 === null
      ? `No latency measured ${periodPhrase(summary.period)}.`
      : `Over the period: p50 ${formatMs(p50)}, p95 ${formatMs(p95)}, p99 ${formatMs(p99)}.` +
        (slowest?.latencyP95 != null ? ` Slowest ${bucketWord(summary)} (p95): ${bucketLabel(slowest.t, summary.bucket)}, ${formatMs(slowest.latencyP95)}.` : "");
  return (
    <ChartFigure
      title="Latency"
      summary={summaryText}
      testId="chart-latency"
      legend={
        <ChartLegend
          items={[
            { label: "p50", color: SERIES_COLORS.primary },
            { label: "p95", color: SERIES_COLORS.warn, dash: "6 3" },
            { label: "p99", color: SERIES_COLORS.bad, dash: "2 2" },
          ]}
        />
      }
      table={{
        head: ["Time", "p50", "p95", "p99"],
        rows: withTraffic(points).map((p) => [bucketLabel(p.t, summary.bucket), formatMs(p.latencyP50), formatMs(p.latencyP95), formatMs(p.latencyP99)]),
      }}
    >
      <TimeSeriesChart
        data={points}
        period={summary.period}
        bucket={summary.bucket}
        kind="lines"
        format={formatMs}
        axisFormat={formatMsAxis}
        series={[
          { key: "latencyP50", label: "p50", color: SERIES_COLORS.primary },
          { key: "latencyP95", label: "p95", color: SERIES_COLORS.warn, dash: "6 3" },
          { key: "latencyP99", label: "p99", color: SERIES_COLORS.bad, dash: "2 2" },
        ]}
      />
    </ChartFigure>
  );
}

export function TtftChart({ summary, points }: { summary: UsageSummary; points: DensePoint[] }) {
  const { p50, p95 } = summary.totals.ttftMs;
  const summaryText =
    p50 === null
      ? `No streamed answer ${periodPhrase(summary.period)}: time to first token is measured on streamed requests.`
      : `Over the period: p50 ${formatMs(p50)}, p95 ${formatMs(p95)} until the first token.`;
  return (
    <ChartFigure
      title="Time to first token"
      summary={summaryText}
      testId="chart-ttft"
      legend={<ChartLegend items={[{ label: "p50", color: SERIES_COLORS.secondary }, { label: "p95", color: SERIES_COLORS.warn, dash: "6 3" }]} />}
      table={{ head: ["Time", "p50", "p95"], rows: withTraffic(points).map((p) => [bucketLabel(p.t, summary.bucket), formatMs(p.ttftP50), formatMs(p.ttftP95)]) }}
    >
      <TimeSeriesChart
        data={points}
        period={summary.period}
        bucket={summary.bucket}
        kind="lines"
        format={formatMs}
        axisFormat={formatMsAxis}
        series={[
          { key: "ttftP50", label: "p50", color: SERIES_COLORS.secondary },
          { key: "ttftP95", label: "p95", color: SERIES_COLORS.warn, dash: "6 3" },
        ]}
      />
    </ChartFigure>
  );
}

export function TokensChart({ summary, points }: { summary: UsageSummary; points: DensePoint[] }) {
  const { tokensIn, tokensOut } = summary.totals;
  return (
    <ChartFigure
      title="Tokens in and out"
      summary={`${formatNumber(tokensIn)} tokens in (prompts) and ${formatNumber(tokensOut)} out (completions) ${periodPhrase(summary.period)}.`}
      testId="chart-tokens"
      legend={<ChartLegend items={[{ label: "In", color: SERIES_COLORS.secondary, kind: "box" }, { label: "Out", color: SERIES_COLORS.primary, kind: "box", hatched: true }]} />}
      table={{ head: ["Time", "In", "Out"], rows: withTraffic(points).map((p) => [bucketLabel(p.t, summary.bucket), formatNumber(p.tokensIn), formatNumber(p.tokensOut)]) }}
    >
      <TimeSeriesChart
        data={points}
        period={summary.period}
        bucket={summary.bucket}
        kind="bars"
        format={formatNumber}
        axisFormat={formatCompact}
        series={[
          { key: "tokensIn", label: "In", color: SERIES_COLORS.secondary },
          { key: "tokensOut", label: "Out", color: SERIES_COLORS.primary, hatched: true },
        ]}
      />
    </ChartFigure>
  );
}

/** Axis labels without the space ("450ms", "1.3s"), so that they fit beside the chart. */
const formatMsAxis = (ms: number) => formatMs(ms).replace(" ", "");

export function CostChart({ summary, points }: { summary: UsageSummary; points: DensePoint[] }) {
  const { costMicroEur, tokenCostMicroEur, gpuCostMicroEur } = summary.totals;
  return (
    <ChartFigure
      title="Cost"
      summary={`${formatMicroEur(costMicroEur)} ${periodPhrase(summary.period)}: ${formatMicroEur(tokenCostMicroEur)} for tokens, ${formatMicroEur(gpuCostMicroEur)} for GPU time.`}
      testId="chart-cost"
      table={{ head: ["Time", "Cost"], rows: points.filter((p) => p.costMicroEur > 0).map((p) => [bucketLabel(p.t, summary.bucket), formatMicroEur(p.costMicroEur)]) }}
    >
      <TimeSeriesChart data={points} period={summary.period} bucket={summary.bucket} kind="bars" format={formatMicroEur} series={[{ key: "costMicroEur", label: "Cost", color: SERIES_COLORS.primary }]} />
    </ChartFigure>
  );
}

/** "< 63 ms" for a bucket (upper bounds are exclusive, lib/histogram.ts), "≥ 661 s" for the overflow one. */
function bucketName(buckets: Distribution["buckets"], i: number) {
  const le = buckets[i].leMs;
  if (le !== null) return `< ${formatMs(le)}`;
  const previous = buckets[i - 1]?.leMs;
  return previous != null ? `≥ ${formatMs(previous)}` : "all";
}
/** "50 ms – 63 ms", for the table. */
function bucketRange(buckets: Distribution["buckets"], i: number) {
  const lower = buckets[i - 1]?.leMs ?? 0;
  const upper = buckets[i].leMs;
  return upper === null ? `≥ ${formatMs(lower)}` : `${formatMs(lower)} – ${formatMs(upper)}`;
}

/**
 * How requests spread over the fixed latency buckets (per-bucket counts), with the percentiles
 * marked, so that a long tail shows as a shape and not as one number.
 */
export function DistributionChart({ title, what, distribution, testId }: { title: string; what: string; distribution: Distribution; testId?: string }) {
  const { buckets } = distribution;
  const first = buckets.findIndex((b) => b.count > 0);
  const last = buckets.length - 1 - [...buckets].reverse().findIndex((b) => b.count > 0);
  const total = buckets.reduce((s, b) => s + b.count, 0);
  // Only the stretch that holds requests, with a bucket of margin on each side.
  const shown = first < 0 ? [] : buckets.map((b, i) => ({ ...b, name: bucketName(buckets, i), range: bucketRange(buckets, i) })).slice(Math.max(0, first - 1), Math.min(buckets.length, last + 2));
  const bucketOf = (ms: number | null) => (ms === null ? undefined : shown.find((b) => b.leMs === null || ms <= b.leMs)?.name);
  // Percentiles in the same bucket share one mark ("p95 p99").
  const marks: { name: string; label: string; top: "p50" | "p95" | "p99" }[] = [];
  for (const k of ["p50", "p95", "p99"] as const) {
    const name = bucketOf(distribution[k]);
    if (!name) continue;
    const same = marks.find((m) => m.name === name);
    if (same) Object.assign(same, { label: `${same.label} ${k}`, top: k });
    else marks.push({ name, label: k, top: k });
  }
  const summaryText =
    total === 0
      ? `No ${what} measured in this period.`
      : `${formatNumber(total)} requests; p50 ${formatMs(distribution.p50)}, p95 ${formatMs(distribution.p95)}, p99 ${formatMs(distribution.p99)}. Most common: ${maxBy(shown, (b) => b.count)?.name}.`;
  return (
    <ChartFigure
      title={title}
      summary={summaryText}
      testId={testId}
      table={{ head: ["Duration", "Requests", "Share"], rows: shown.filter((b) => b.count > 0).map((b) => [b.range, formatNumber(b.count), formatRate(b.count, total)]) }}
    >
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={shown} margin={{ top: 16, right: 8, bottom: 0, left: 0 }} barCategoryGap={1} accessibilityLayer={false}>
          <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e2e8f0" />
          <XAxis dataKey="name" tick={{ fontSize: 10 }} interval="preserveStartEnd" minTickGap={8} />
          <YAxis tick={{ fontSize: 11 }} tickFormatter={(v: number) => formatCompact(v)} width={48} allowDecimals={false} />
          <Tooltip formatter={(value) => [`${formatNumber(Number(value))} (${formatRate(Number(value), total)})`, "Requests"]} cursor={{ fill: "rgba(148, 163, 184, 0.15)" }} />
          <Bar dataKey="count" name="Requests" fill={SERIES_COLORS.primary} isAnimationActive={false} />
          {marks.map((m) => (
            <ReferenceLine key={m.name} x={m.name} stroke={m.top === "p50" ? SERIES_COLORS.secondary : m.top === "p95" ? SERIES_COLORS.warn : SERIES_COLORS.bad} strokeDasharray="4 2" label={{ value: m.label, position: "top", fontSize: 10, fill: "#334155" }} />
          ))}
        </BarChart>
      </ResponsiveContainer>
    </ChartFigure>
  );
}
