// Percentiles and summaries of latency samples.

/** Linear-interpolated percentile (q in [0, 100]) of ascending-sorted values; NaN when there are none. */
export function percentile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  if (q <= 0) return sorted[0] as number;
  if (q >= 100) return sorted[n - 1] as number;
  const rank = (q / 100) * (n - 1);
  const lo = Math.floor(rank);
  const hi = Math.min(lo + 1, n - 1);
  const lower = sorted[lo] as number;
  return lower + ((sorted[hi] as number) - lower) * (rank - lo);
}

export interface Summary {
  count: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** Count, mean, extremes and p50/p90/p99 of unsorted values (the input is not modified). */
export function summarize(values: ArrayLike<number>): Summary {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  const n = sorted.length;
  return {
    count: n,
    mean: n === 0 ? Number.NaN : sum / n,
    min: n === 0 ? Number.NaN : (sorted[0] as number),
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: n === 0 ? Number.NaN : (sorted[n - 1] as number),
  };
}
