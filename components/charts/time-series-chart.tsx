"use client";
import { useId } from "react";
import { Bar, CartesianGrid, ComposedChart, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { bucketLabel, tickLabel, timeTicks, type Bucket, type Period } from "./time-axis";
import { HatchPattern } from "./chart-figure";

export interface SeriesSpec<D> {
  key: keyof D & string;
  label: string;
  color: string;
  /** Lines: a dash pattern ("6 3"), so that lines differ by more than colour. */
  dash?: string;
  /** Bars: stripes over the colour. */
  hatched?: boolean;
  /** Drawn otherwise than the chart's `kind` (e.g. a capacity line over allocation bars). */
  as?: "bar" | "line";
  /** Lines: hold the value until the next point (a capacity), instead of a curve. */
  step?: boolean;
}

/**
 * One chart over the dashboard's period: bars (stacked) or lines, one point per bucket, the axis
 * spanning the whole period. Lines break where a bucket had no request (null), rather than
 * pretending a latency of zero.
 */
export function TimeSeriesChart<D extends { t: number }>({
  data,
  period,
  bucket,
  series,
  kind,
  format,
  axisFormat = format,
}: {
  data: D[];
  period: Period;
  bucket: Bucket;
  series: SeriesSpec<D>[];
  kind: "bars" | "lines";
  format: (value: number) => string;
  axisFormat?: (value: number) => string;
}) {
  const patternPrefix = useId().replace(/[^a-zA-Z0-9_-]/g, "");
  const ticks = timeTicks(
    data.map((d) => d.t),
    period,
    bucket,
  );
  return (
    <ResponsiveContainer width="100%" height="100%">
      <ComposedChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 0 }} barCategoryGap={data.length > 60 ? 0 : "15%"} accessibilityLayer={false}>
        {series.filter((s) => s.hatched).map((s) => <HatchPattern key={s.key} id={`${patternPrefix}-${s.key}`} color={s.color} />)}
        <CartesianGrid strokeDasharray="3 3" vertical={false} stroke="#e2e8f0" />
        <XAxis dataKey="t" type="category" ticks={ticks} interval="preserveStartEnd" minTickGap={12} tickFormatter={(t: number) => tickLabel(t, period, bucket)} tick={{ fontSize: 11 }} />
        <YAxis tick={{ fontSize: 11 }} tickFormatter={(v: number) => axisFormat(v)} width={60} allowDecimals={false} />
        <Tooltip
          labelFormatter={(t) => bucketLabel(Number(t), bucket)}
          formatter={(value, name) => [value === null || value === undefined ? "—" : format(Number(value)), name]}
          cursor={{ fill: "rgba(148, 163, 184, 0.15)" }}
        />
        {series.map((s) =>
          (s.as ?? (kind === "bars" ? "bar" : "line")) === "bar" ? (
            <Bar key={s.key} dataKey={s.key as string} name={s.label} stackId="stack" fill={s.hatched ? `url(#${patternPrefix}-${s.key})` : s.color} isAnimationActive={false} />
          ) : (
            <Line
              key={s.key}
              dataKey={s.key as string}
              name={s.label}
              type={s.step ? "stepAfter" : "monotone"}
              stroke={s.color}
              strokeWidth={2}
              strokeDasharray={s.dash}
              dot={(props: { cx?: number; cy?: number; index?: number }) => <LoneDot key={`${s.key}-${props.index}`} {...props} data={data} dataKey={s.key} color={s.color} all={data.length <= 31} />}
              connectNulls={false}
              isAnimationActive={false}
            />
          ),
        )}
      </ComposedChart>
    </ResponsiveContainer>
  );
}

/** A dot on a point, always on short series, else only where the line cannot show it (no neighbour). */
function LoneDot<D>({ cx, cy, index = 0, data, dataKey, color, all }: { cx?: number; cy?: number; index?: number; data: D[]; dataKey: keyof D; color: string; all: boolean }) {
  const present = (i: number) => {
    const value = data[i]?.[dataKey];
    return value !== null && value !== undefined;
  };
  if (cx === undefined || cy === undefined || !present(index) || (!all && present(index - 1) && present(index + 1))) return <g />;
  return <circle cx={cx} cy={cy} r={all ? 2 : 2.5} fill={color} stroke={color} />;
}
