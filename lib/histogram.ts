/**
 * Fixed logarithmic histograms of durations in milliseconds (request latency, time to first
 * token), as the usage roll-ups store them ("UsageHourly"/"UsageDaily" `latencyBuckets`,
 * `ttftBuckets`; docs/usage.md). The buckets are the same for every row, so histograms merge by
 * adding counts: a percentile over 30 days is read from the sum of 720 hourly histograms, never
 * from an average of percentiles.
 *
 * Bounds: 0.5 ms × 2^(i/3) (three buckets per doubling, ×1.26 each), rounded to 3 significant
 * digits, up to the first bound past 10 minutes. Bucket `i` holds the values `v` with
 * `BOUNDS[i-1] <= v < BOUNDS[i]` (bucket 0: below 0.5 ms; the last bucket: from the last bound up,
 * the overflow). That is PostgreSQL's `width_bucket(v, bounds)`, which the roll-up SQL uses: the
 * migration 20261202010000_usage_rollups holds these bounds as `usage_histogram_bounds()`, and a
 * test checks that both agree. Changing them needs a migration and `npm run usage:rollup -- --rebuild`.
 */

function bounds(): number[] {
  const out: number[] = [];
  for (let i = 0; ; i++) {
    const b = Number((0.5 * 2 ** (i / 3)).toPrecision(3));
    out.push(b);
    if (b > 600_000) return out;
  }
}

/** Lower bounds of buckets 1…N (milliseconds), increasing: [0.5, 0.63, 0.794, 1, 1.26, …, 661000]. */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze(bounds());

/** Buckets per histogram: one below the first bound, one between each pair, one overflow. */
export const BUCKET_COUNT = LATENCY_BUCKETS_MS.length + 1;

/** Counts per bucket, `BUCKET_COUNT` long (an empty array is an empty histogram). */
export type Histogram = number[];

export function emptyHistogram(): Histogram {
  return new Array<number>(BUCKET_COUNT).fill(0);
}

/** The bucket of a duration: the number of bounds <= ms (NaN and +∞ overflow; negatives go to 0). */
export function bucketOf(ms: number): number {
  if (Number.isNaN(ms)) return BUCKET_COUNT - 1;
  let lo = 0;
  let hi = LATENCY_BUCKETS_MS.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (LATENCY_BUCKETS_MS[mid] <= ms) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Lower bound of bucket `i` (0 for the first). */
export function bucketLowerBound(i: number): number {
  return i <= 0 ? 0 : LATENCY_BUCKETS_MS[Math.min(i, LATENCY_BUCKETS_MS.length) - 1];
}

/** Upper bound of bucket `i` (exclusive); null for the overflow bucket. */
export function bucketUpperBound(i: number): number | null {
  return i < LATENCY_BUCKETS_MS.length ? LATENCY_BUCKETS_MS[Math.max(0, i)] : null;
}

export function histogramOf(values: Iterable<number>): Histogram {
  const h = emptyHistogram();
  for (const v of values) h[bucketOf(v)]++;
  return h;
}

/** The sum of two histograms (either may be empty or shorter). */
export function merge(a: readonly number[], b: readonly number[]): Histogram {
  const out = emptyHistogram();
  for (let i = 0; i < BUCKET_COUNT; i++) out[i] = (a[i] ?? 0) + (b[i] ?? 0);
  return out;
}

export function mergeAll(histograms: Iterable<readonly number[]>): Histogram {
  let out = emptyHistogram();
  for (const h of histograms) out = merge(out, h);
  return out;
}

export function total(h: readonly number[]): number {
  let n = 0;
  for (const c of h) n += c;
  return n;
}

/**
 * The `q`-quantile (0 < q <= 1; 0.95 for p95) of the values counted, or null when there are none.
 * Nearest rank: the value of rank ceil(q·n) in sorted order, estimated by linear interpolation
 * inside its bucket, at the middle of that rank's share of the bucket: it always lies inside the
 * bucket of the exact value. In the overflow bucket (over 11 minutes), the last bound is returned.
 */
export function percentile(h: readonly number[], q: number): number | null {
  const n = total(h);
  if (n <= 0) return null;
  const rank = Math.min(n, Math.max(1, Math.ceil(q * n)));
  let before = 0;
  for (let i = 0; i < h.length; i++) {
    const c = h[i] ?? 0;
    if (c > 0 && before + c >= rank) {
      const lower = bucketLowerBound(i);
      const upper = bucketUpperBound(i);
      if (upper === null) return lower;
      return lower + ((upper - lower) * (rank - before - 0.5)) / c;
    }
    before += c;
  }
  return bucketLowerBound(h.length - 1);
}

/** The exact nearest-rank quantile of raw values (tests and checks). */
export function exactPercentile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}
