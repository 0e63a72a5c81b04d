/**
 * The latency histogram that workers fill and the stats and metrics read:
 * fixed bucket bounds in milliseconds, roughly 1-2.5-5 per decade from
 * 0.1 ms to 30 min, plus one open bucket above the last bound. Fixed bounds
 * let per-worker histograms be added bucket by bucket. Imports nothing.
 */

/** Upper bounds (inclusive) of every bucket but the last, in ms. */
export const BUCKET_BOUNDS_MS: readonly number[] = [
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
  300_000, 1_800_000,
];

/** Number of buckets: one per bound, plus the open one. */
export const BUCKETS = BUCKET_BOUNDS_MS.length + 1;

/** Index of the bucket `ms` falls into. */
export function bucketOf(ms: number): number {
  const b = BUCKET_BOUNDS_MS;
  let lo = 0;
  let hi = b.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= b[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Adds `from` into `into`, bucket by bucket. */
export function addInto(into: number[], from: readonly number[]): void {
  for (let i = 0; i < BUCKETS; i++) into[i]! += from[i] ?? 0;
}

/**
 * The q-quantile (0 < q < 1) of a histogram, interpolated linearly inside
 * its bucket as Prometheus' histogram_quantile does; null when empty. A
 * quantile in the open bucket reports the last bound.
 */
export function quantile(hist: readonly number[], q: number): number | null {
  let total = 0;
  for (const n of hist) total += n;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < hist.length; i++) {
    const n = hist[i]!;
    if (n > 0 && seen + n >= rank) {
      if (i >= BUCKET_BOUNDS_MS.length) return BUCKET_BOUNDS_MS[BUCKET_BOUNDS_MS.length - 1]!;
      const lower = i === 0 ? 0 : BUCKET_BOUNDS_MS[i - 1]!;
      const upper = BUCKET_BOUNDS_MS[i]!;
      return lower + (upper - lower) * ((rank - seen) / n);
    }
    seen += n;
  }
  return BUCKET_BOUNDS_MS[BUCKET_BOUNDS_MS.length - 1]!;
}
