import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BUCKET_COUNT, LATENCY_BUCKETS_MS, bucketLowerBound, bucketOf, bucketUpperBound, emptyHistogram, exactPercentile, histogramOf, merge, mergeAll, percentile, total } from "../../lib/histogram";

// Durations as the gateway measures them: sub-millisecond to past the overflow bound, skewed to the small.
const duration = fc.oneof(
  fc.double({ min: 0, max: 5, noNaN: true }),
  fc.double({ min: 0, max: 2000, noNaN: true }),
  fc.double({ min: 0, max: 900_000, noNaN: true }),
  fc.constantFrom(0, 0.5, 1, 1020, 661_000, 10_000_000),
);
const quantile = fc.oneof(fc.constantFrom(0.5, 0.9, 0.95, 0.99, 0.999, 1), fc.double({ min: 0.001, max: 1, noNaN: true }));

describe("latency histogram buckets", () => {
  it("are increasing from 0.5 ms to past 10 minutes, about 1.26× apart", () => {
    expect(LATENCY_BUCKETS_MS[0]).toBe(0.5);
    expect(LATENCY_BUCKETS_MS.at(-1)).toBeGreaterThan(600_000);
    expect(BUCKET_COUNT).toBe(LATENCY_BUCKETS_MS.length + 1);
    for (let i = 1; i < LATENCY_BUCKETS_MS.length; i++) {
      const ratio = LATENCY_BUCKETS_MS[i] / LATENCY_BUCKETS_MS[i - 1];
      expect(ratio).toBeGreaterThan(1.24);
      expect(ratio).toBeLessThan(1.28);
    }
  });

  it("put a value in the bucket whose bounds hold it (lower bound included)", () => {
    fc.assert(
      fc.property(duration, (v) => {
        const b = bucketOf(v);
        expect(b).toBeGreaterThanOrEqual(0);
        expect(b).toBeLessThan(BUCKET_COUNT);
        if (b > 0) expect(v).toBeGreaterThanOrEqual(bucketLowerBound(b));
        const upper = bucketUpperBound(b);
        if (upper !== null) expect(v).toBeLessThan(upper);
      }),
    );
    expect(bucketOf(0.4999)).toBe(0);
    expect(bucketOf(0.5)).toBe(1);
    expect(bucketOf(1)).toBe(4);
    expect(bucketOf(Number.NaN)).toBe(BUCKET_COUNT - 1);
    expect(bucketOf(Number.POSITIVE_INFINITY)).toBe(BUCKET_COUNT - 1);
    expect(bucketOf(-3)).toBe(0);
  });

  it("merge by adding counts, in any order and grouping", () => {
    fc.assert(
      fc.property(fc.array(fc.array(duration, { maxLength: 40 }), { maxLength: 8 }), (groups) => {
        const parts = groups.map((g) => histogramOf(g));
        const all = histogramOf(groups.flat());
        expect(mergeAll(parts)).toEqual(all);
        expect(mergeAll([...parts].reverse())).toEqual(all);
        expect(total(all)).toBe(groups.flat().length);
      }),
    );
    expect(merge([], [])).toEqual(emptyHistogram());
    expect(merge([1, 2], [0, 1, 5])).toEqual([1, 3, 5, ...new Array(BUCKET_COUNT - 3).fill(0)]);
  });
});

describe("percentiles from merged hourly histograms", () => {
  it("are within one bucket of the exact percentile over the raw values", () => {
    fc.assert(
      fc.property(fc.array(fc.array(duration, { minLength: 0, maxLength: 60 }), { minLength: 1, maxLength: 24 }), quantile, (hours, q) => {
        const raw = hours.flat();
        fc.pre(raw.length > 0);
        const merged = mergeAll(hours.map((h) => histogramOf(h)));
        const estimate = percentile(merged, q)!;
        const exact = exactPercentile(raw, q)!;
        expect(Math.abs(bucketOf(estimate) - bucketOf(exact))).toBeLessThanOrEqual(1);
        // Below the overflow bucket the estimate even lies inside the exact value's bucket.
        if (bucketOf(exact) < BUCKET_COUNT - 1) expect(bucketOf(estimate)).toBe(bucketOf(exact));
      }),
      { numRuns: 500 },
    );
  });

  it("are monotonic in q and null for an empty histogram", () => {
    fc.assert(
      fc.property(fc.array(duration, { minLength: 1, maxLength: 200 }), fc.double({ min: 0.001, max: 1, noNaN: true }), fc.double({ min: 0.001, max: 1, noNaN: true }), (values, a, b) => {
        const h = histogramOf(values);
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(percentile(h, lo)!).toBeLessThanOrEqual(percentile(h, hi)!);
      }),
    );
    expect(percentile(emptyHistogram(), 0.5)).toBeNull();
    expect(percentile([], 0.5)).toBeNull();
  });

  it("interpolate inside the bucket: one value sits in its bucket's middle", () => {
    const h = histogramOf([3]);
    // 3 ms is in [2.52, 3.17).
    expect(percentile(h, 0.5)).toBeCloseTo((2.52 + 3.17) / 2, 9);
    expect(percentile(histogramOf([10_000_000]), 0.99)).toBe(661_000);
  });
});
