// The time axis every dashboard chart shares: buckets covering the whole period (empty ones
// included, so a quiet week still reads as a week), ticks a person can read, the viewer's locale.

import { BUCKET_MS, USAGE_PERIODS, type UsageBucket, type UsagePeriod } from "@/lib/usage-periods";

export const PERIODS = USAGE_PERIODS;
export type Period = UsagePeriod;
export type Bucket = UsageBucket;

export const PERIOD_LABELS: Record<Period, string> = { "24h": "24 hours", "7d": "7 days", "30d": "30 days", "90d": "90 days" };
/** "in the last 7 days" */
export const periodPhrase = (period: Period) => `in the last ${PERIOD_LABELS[period]}`;

export const isPeriod = (value: string | null | undefined): value is Period => PERIODS.includes(value as Period);

export type Instant = Date | string | number;
export const toMs = (t: Instant) => (t instanceof Date ? t.getTime() : typeof t === "number" ? t : Date.parse(t));

export const bucketMs = (bucket: Bucket) => BUCKET_MS[bucket];
/** Daily roll-ups are UTC days; hours are the same everywhere (for whole-hour time zones). */
const floorTo = (ms: number, bucket: Bucket) => ms - (((ms % bucketMs(bucket)) + bucketMs(bucket)) % bucketMs(bucket));

/** Every bucket start from `from` to `to`, each with the server's point for it or `empty(t)`. */
export function denseSeries<P extends { t: Instant }, D>(
  range: { from: Instant; to: Instant; bucket: Bucket },
  points: P[],
  fill: (point: P | undefined, t: number) => D,
): (D & { t: number })[] {
  const step = bucketMs(range.bucket);
  const byStart = new Map(points.map((p) => [floorTo(toMs(p.t), range.bucket), p]));
  const first = floorTo(toMs(range.from), range.bucket);
  const end = toMs(range.to);
  const out: (D & { t: number })[] = [];
  // Bounded: 90 days of hours is 2,160 buckets at most.
  for (let t = first; t < end && out.length < 3000; t += step) out.push({ ...fill(byStart.get(t), t), t });
  return out;
}

/**
 * Tick positions (bucket starts present in `ts`): every 3 hours over a day, every day over a
 * week, every 5 days over a month, every 2 weeks over a quarter.
 */
export function timeTicks(ts: number[], period: Period, bucket: Bucket): number[] {
  if (ts.length === 0) return [];
  if (period === "24h") return ts.filter((t) => new Date(t).getHours() % 3 === 0 && bucketStartsHour(t));
  const everyDays = period === "7d" ? 1 : period === "30d" ? 5 : 14;
  const starts = ts.filter((t) => (bucket === "day" ? true : isLocalMidnight(t)));
  // Count days from the first tick so that the spacing is even whatever the month lengths.
  return starts.filter((_, i) => i % everyDays === 0);
}
const bucketStartsHour = (t: number) => new Date(t).getMinutes() === 0;
const isLocalMidnight = (t: number) => {
  const d = new Date(t);
  return d.getHours() === 0 && d.getMinutes() === 0;
};

// `undefined` locale: the viewer's own (these charts render in the browser only, after their data arrives).
const hourFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const weekdayFormat = { utc: new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", timeZone: "UTC" }), local: new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric" }) };
const dayFormat = { utc: new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" }), local: new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short" }) };
const fullHourFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
const fullDayFormat = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });

/** The label under a tick. */
export function tickLabel(t: number, period: Period, bucket: Bucket): string {
  if (period === "24h") return hourFormat.format(t);
  const zone = bucket === "day" ? "utc" : "local";
  return period === "7d" ? weekdayFormat[zone].format(t) : dayFormat[zone].format(t);
}

/** What one bucket is, in words, for tooltips and tables: "Tue 3 Dec, 14:00" or "Tue 3 Dec 2026". */
export const bucketLabel = (t: number, bucket: Bucket) => (bucket === "hour" ? fullHourFormat.format(t) : fullDayFormat.format(t));
