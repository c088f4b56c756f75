// Measured points to Dynamo's profiling arrays (the mocker's --perf-profile, @kvasir/protocol's PerfProfile). Pure.
import { interpolate1d, type PerfProfile } from "@kvasir/protocol";

export interface PrefillPoint {
  isl: number;
  ttftMs: number;
}

export interface DecodePoint {
  /** Mean context of the decoding sequences (prompt + half the output). */
  contextLength: number;
  /** Tokens attended by all sequences of a step: concurrency × context. */
  activeKvTokens: number;
  itlMs: number;
}

/** Values sorted and made strictly increasing (equal ones averaged by the caller's grouping). */
function groupBy<T>(xs: T[], key: (x: T) => number): Map<number, T[]> {
  const out = new Map<number, T[]>();
  for (const x of xs) out.set(key(x), [...(out.get(key(x)) ?? []), x]);
  return new Map([...out.entries()].sort((a, b) => a[0] - b[0]));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * The table: prefill TTFT per ISL (the mean of repeats); decode ITL on a grid of every measured active-KV value
 * (rows) by every measured context length (columns), each column interpolated from its own measurements.
 */
export function buildPerfProfile(prefill: PrefillPoint[], decode: DecodePoint[]): PerfProfile {
  if (prefill.length === 0) throw new RangeError("no prefill measurement");
  if (decode.length === 0) throw new RangeError("no decode measurement");
  const byIsl = groupBy(prefill, (p) => p.isl);
  const columns = groupBy(decode, (p) => Math.round(p.contextLength));
  const rows = [...new Set(decode.map((p) => Math.round(p.activeKvTokens)))].sort((a, b) => a - b);
  const context = [...columns.keys()];
  const curves = [...columns.values()].map((points) => {
    const byKv = groupBy(points, (p) => Math.round(p.activeKvTokens));
    return { kv: [...byKv.keys()], itl: [...byKv.values()].map((ps) => mean(ps.map((p) => p.itlMs))) };
  });
  return {
    prefillTokens: [...byIsl.keys()],
    prefillMs: [...byIsl.values()].map((ps) => mean(ps.map((p) => p.ttftMs))),
    decodeKvTokens: rows,
    decodeContextLength: context,
    // Extrapolated past a column's measured range: never below that column's lightest measurement.
    decodeMs: rows.map((kv) =>
      curves.map((c) => Math.max(Math.min(...c.itl), interpolate1d(c.kv, c.itl, kv))),
    ),
  };
}
