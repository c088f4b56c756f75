// Synthetic open-loop workloads: fixed prompt and output lengths with Poisson arrivals (exponential gaps from a
// seeded generator), as trace rows so they replay through the same path as a Mooncake trace.
import { TRACE_BLOCK_TOKENS, type TraceRow } from "./trace.js";

export interface PoissonWorkload {
  /** Prompt tokens of every request. */
  inputLength: number;
  /** Output tokens of every request. */
  outputLength: number;
  /** Mean arrivals per second. */
  rate: number;
  /** Requests to generate; with durationSeconds, whichever ends first. */
  count?: number;
  /** Arrivals within this many seconds from the first. */
  durationSeconds?: number;
  seed?: number;
}

/** mulberry32: a small, seedable uniform generator in [0, 1), identical on every run. */
export function seededUniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * Rows with distinct hash_ids per request (no prefix is shared, so no prefix cache helps), the first at time 0
 * and the rest after exponential gaps of mean 1000 / rate ms.
 */
export function poissonWorkload(w: PoissonWorkload): TraceRow[] {
  if (!(w.rate > 0)) throw new Error("rate must be positive");
  if (!Number.isInteger(w.inputLength) || w.inputLength < 1)
    throw new Error("input length must be at least 1");
  if (!Number.isInteger(w.outputLength) || w.outputLength < 1)
    throw new Error("output length must be at least 1");
  if (w.count === undefined && w.durationSeconds === undefined) {
    throw new Error("give a request count, a duration or both");
  }
  const count = w.count ?? Number.POSITIVE_INFINITY;
  const endMs = (w.durationSeconds ?? Number.POSITIVE_INFINITY) * 1000;
  const uniform = seededUniform(w.seed ?? 0);
  const blocks = Math.ceil(w.inputLength / TRACE_BLOCK_TOKENS);
  const rows: TraceRow[] = [];
  let t = 0;
  while (rows.length < count && t <= endMs) {
    const first = rows.length * blocks;
    rows.push({
      timestamp: Math.round(t),
      inputLength: w.inputLength,
      outputLength: w.outputLength,
      hashIds: Array.from({ length: blocks }, (_, b) => first + b),
    });
    // 1 - u is in (0, 1], so the log is finite.
    t += (-Math.log(1 - uniform()) * 1000) / w.rate;
  }
  return rows;
}
