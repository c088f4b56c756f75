// Histogram buckets as Dynamo builds them, so `le` values match Dynamo's series exactly.

/**
 * Log-spaced buckets between min and max rounded to two significant figures, with 0 first and duplicates
 * removed (Dynamo's generate_log_buckets: the first log point is replaced by 0).
 */
export function logBuckets(min: number, max: number, count: number): number[] {
  if (count <= 0) return [];
  const buckets = [0];
  const logMin = Math.log(min);
  const logMax = Math.log(max);
  for (let i = 1; i < count; i++) {
    const value = Math.exp(logMin + ((logMax - logMin) * i) / (count - 1));
    const rounded = roundSignificant(value, 2);
    if (rounded !== buckets[buckets.length - 1]) buckets.push(rounded);
  }
  return buckets;
}

export function roundSignificant(value: number, digits: number): number {
  if (value === 0) return 0;
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const scale = 10 ** (digits - 1 - magnitude);
  // Dividing by a power of ten (or multiplying by its inverse when below 1) keeps e.g. 0.0022 exact in print.
  return scale >= 1 ? Math.round(value * scale) / scale : Math.round(value * scale) * (1 / scale);
}

export function linearBuckets(start: number, width: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => roundSignificant(start + width * i, 12));
}

export function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => roundSignificant(start * factor ** i, 12));
}

export interface LogBucketSpec {
  min: number;
  max: number;
  count: number;
}

/**
 * Dynamo's bucket override variables: `{prefix}_MIN`, `{prefix}_MAX`, `{prefix}_COUNT` (e.g. DYN_METRICS_TTFT_MAX).
 * Invalid combinations fall back to the defaults, as in Dynamo.
 */
export function logBucketsFromEnv(
  prefix: string,
  defaults: LogBucketSpec,
  env: Record<string, string | undefined> = process.env,
): number[] {
  const read = (suffix: string, fallback: number): number => {
    const raw = env[`${prefix}_${suffix}`];
    const n = raw === undefined ? Number.NaN : Number(raw);
    return Number.isFinite(n) ? n : fallback;
  };
  const spec = {
    min: read("MIN", defaults.min),
    max: read("MAX", defaults.max),
    count: read("COUNT", defaults.count),
  };
  const valid =
    spec.min > 0 &&
    spec.min < spec.max &&
    Number.isInteger(spec.count) &&
    spec.count > 0 &&
    spec.count <= 512;
  const use = valid ? spec : defaults;
  return logBuckets(use.min, use.max, use.count);
}
