// Reads the Prometheus text exposition a Kvasir app serves on /metrics: samples by name and labels, counters
// summed over series, and histogram quantiles interpolated within buckets the way PromQL's histogram_quantile
// does, so a benchmark can report what the servers measured themselves.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Every sample line of `text` (comments and blank lines skipped; values as Prometheus writes them, +Inf too). */
export function parsePromText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) {
      labels[l[1] as string] = (l[2] as string).replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: m[1] as string, labels, value: parseValue(m[3] as string) });
  }
  return samples;
}

function parseValue(text: string): number {
  if (text === "+Inf") return Number.POSITIVE_INFINITY;
  if (text === "-Inf") return Number.NEGATIVE_INFINITY;
  return Number(text);
}

type LabelFilter = Record<string, string>;

const matches = (s: Sample, name: string, filter: LabelFilter) =>
  s.name === name && Object.entries(filter).every(([k, v]) => s.labels[k] === v);

/** Sum of the series named `name` whose labels include `filter`, grouped by the value of label `by`. */
export function sumBy(
  samples: readonly Sample[],
  name: string,
  by: string,
  filter: LabelFilter = {},
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of samples) {
    if (!matches(s, name, filter)) continue;
    const key = s.labels[by] ?? "";
    out[key] = (out[key] ?? 0) + s.value;
  }
  return out;
}

export interface HistogramData {
  /** Ascending upper bounds with cumulative counts, +Inf last. */
  buckets: { le: number; count: number }[];
  count: number;
  sum: number;
}

/** The histogram `name` summed over every series whose labels include `filter`. */
export function histogram(samples: readonly Sample[], name: string, filter: LabelFilter = {}): HistogramData {
  const byLe = new Map<number, number>();
  let count = 0;
  let sum = 0;
  for (const s of samples) {
    if (matches(s, `${name}_bucket`, filter) && s.labels.le !== undefined) {
      const le = parseValue(s.labels.le);
      byLe.set(le, (byLe.get(le) ?? 0) + s.value);
    } else if (matches(s, `${name}_count`, filter)) count += s.value;
    else if (matches(s, `${name}_sum`, filter)) sum += s.value;
  }
  const buckets = [...byLe].map(([le, c]) => ({ le, count: c })).sort((a, b) => a.le - b.le);
  return { buckets, count, sum };
}

/**
 * The q-quantile (0..1) of a histogram, interpolated linearly inside its bucket (from 0 for the first); NaN when
 * it is empty; the highest finite bound when the quantile falls in +Inf, as histogram_quantile does.
 */
export function histogramQuantile(h: HistogramData, q: number): number {
  const total = h.buckets.at(-1)?.count ?? 0;
  if (total === 0) return Number.NaN;
  const rank = q * total;
  let lowerLe = 0;
  let lowerCount = 0;
  for (const { le, count } of h.buckets) {
    if (count >= rank) {
      if (le === Number.POSITIVE_INFINITY) return lowerLe;
      if (count === lowerCount) return le;
      return lowerLe + ((le - lowerLe) * (rank - lowerCount)) / (count - lowerCount);
    }
    lowerLe = le;
    lowerCount = count;
  }
  return lowerLe;
}
