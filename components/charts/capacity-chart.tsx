"use client";
import { formatNumber, formatRate } from "../format";
import { ChartFigure, ChartLegend, SERIES_COLORS } from "./chart-figure";
import { TimeSeriesChart } from "./time-series-chart";
import { bucketLabel, denseSeries, toMs, type Bucket, type Period } from "./time-axis";
import type { CapacitySeries } from "./usage-types";

const PERIOD_MS: Record<Period, number> = { "24h": 24 * 3_600_000, "7d": 7 * 86_400_000, "30d": 30 * 86_400_000, "90d": 90 * 86_400_000 };
/** Hourly samples over a day or a week, daily beyond (what the capacity read model returns). */
const bucketOfPoints = (points: CapacitySeries["points"], period: Period): Bucket => {
  const ts = points.map((p) => toMs(p.t)).sort((a, b) => a - b);
  const gaps = ts.slice(1).map((t, i) => t - ts[i]);
  if (gaps.length > 0) return Math.min(...gaps) >= 86_400_000 ? "day" : "hour";
  return period === "24h" || period === "7d" ? "hour" : "day";
};

/** GPUs allocated (bars) against the capacity (a step line) of one region's GPU type, over the period. */
export function CapacityChart({ series, period, now }: { series: CapacitySeries; period: Period; now: number }) {
  const bucket = bucketOfPoints(series.points, period);
  const points = denseSeries({ from: now - PERIOD_MS[period], to: now, bucket }, series.points, (p) => ({ allocated: p?.allocated ?? null, capacity: p?.capacity ?? null }));
  const latest = [...series.points].sort((a, b) => toMs(b.t) - toMs(a.t))[0];
  const peak = series.points.reduce((m, p) => Math.max(m, p.allocated ?? 0), 0);
  const summary = latest
    ? `Now ${formatNumber(latest.allocated ?? 0)} of ${formatNumber(latest.capacity ?? 0)} GPUs allocated (${formatRate(latest.allocated ?? 0, latest.capacity ?? 0)}); peak ${formatNumber(peak)}.`
    : "No samples in this period.";
  return (
    <ChartFigure
      title={`${series.regionName} · ${series.gpuTypeName}`}
      summary={summary}
      height="h-40"
      testId="chart-capacity"
      legend={<ChartLegend items={[{ label: "Allocated", color: SERIES_COLORS.primary, kind: "box" }, { label: "Capacity", color: SERIES_COLORS.bad, dash: "6 3" }]} />}
      table={{
        head: ["Time", "Allocated", "Capacity"],
        rows: points.filter((p) => p.capacity !== null).map((p) => [bucketLabel(p.t, bucket), formatNumber(p.allocated ?? 0), formatNumber(p.capacity ?? 0)]),
      }}
    >
      <TimeSeriesChart
        data={points}
        period={period}
        bucket={bucket}
        kind="bars"
        format={formatNumber}
        series={[
          { key: "allocated", label: "Allocated", color: SERIES_COLORS.primary },
          { key: "capacity", label: "Capacity", color: SERIES_COLORS.bad, dash: "6 3", as: "line", step: true },
        ]}
      />
    </ChartFigure>
  );
}
