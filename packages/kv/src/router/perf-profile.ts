// A worker's step timings, as its Model Deployment Card carries them (Dynamo's mocker perf-data layout), turned
// into the two figures the TTFT cost model needs: how long prefilling N tokens takes, and how long one decode step
// of the worker's running sequences takes.
import type { PerfProfile } from "@kvasir/protocol";

export type WorkerPerfProfile = PerfProfile;

/** Segment of `xs` used for x, and x's position in it (outside [0, 1] when extrapolating). */
function locate(xs: readonly number[], x: number): { i: number; t: number } {
  if (xs.length === 1) return { i: 0, t: 0 };
  let lo = 0;
  let hi = xs.length - 2;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((xs[mid] as number) <= x) lo = mid;
    else hi = mid - 1;
  }
  const x0 = xs[lo] as number;
  const x1 = xs[lo + 1] as number;
  return { i: lo, t: (x - x0) / (x1 - x0) };
}

/** Linear interpolation; the end segments extend linearly, so a step larger than any profiled one still grows. */
export function interpolate1d(xs: readonly number[], ys: readonly number[], x: number): number {
  const { i, t } = locate(xs, x);
  const y0 = ys[i] as number;
  const y1 = ys[i + 1] ?? y0;
  return y0 + t * (y1 - y0);
}

/** Bilinear interpolation over z[i][j] at (xs[i], ys[j]), extending linearly past the edges. */
export function interpolate2d(
  xs: readonly number[],
  ys: readonly number[],
  z: readonly (readonly number[])[],
  x: number,
  y: number,
): number {
  const { i, t } = locate(xs, x);
  const { i: j, t: u } = locate(ys, y);
  const r0 = z[i] as readonly number[];
  const r1 = z[i + 1] ?? r0;
  const at = (row: readonly number[], k: number): number => row[k] ?? (row[j] as number);
  return (1 - t) * ((1 - u) * at(r0, j) + u * at(r0, j + 1)) + t * ((1 - u) * at(r1, j) + u * at(r1, j + 1));
}

/** Milliseconds of one step that prefills `tokens` tokens. */
export function prefillStepMs(p: WorkerPerfProfile, tokens: number): number {
  return tokens <= 0 ? 0 : Math.max(0, interpolate1d(p.prefillTokens, p.prefillMs, tokens));
}

/**
 * Milliseconds to prefill `tokens` when each step takes at most `stepTokens` of them (chunked prefill at the
 * worker's max_num_batched_tokens); `stepTokens` 0 means unchunked.
 */
export function prefillMs(p: WorkerPerfProfile, tokens: number, stepTokens: number): number {
  if (tokens <= 0) return 0;
  if (stepTokens <= 0 || tokens <= stepTokens) return prefillStepMs(p, tokens);
  const full = Math.floor(tokens / stepTokens);
  return full * prefillStepMs(p, stepTokens) + prefillStepMs(p, tokens - full * stepTokens);
}

/** Steps a prefill of `tokens` takes at `stepTokens` per step. */
export function prefillSteps(tokens: number, stepTokens: number): number {
  if (tokens <= 0) return 0;
  return stepTokens <= 0 ? 1 : Math.ceil(tokens / stepTokens);
}

/** Milliseconds one decode step of `seqs` sequences attending `kvTokens` tokens in all adds to a step. */
export function decodeStepMs(p: WorkerPerfProfile, kvTokens: number, seqs: number): number {
  if (seqs <= 0 || kvTokens <= 0) return 0;
  return Math.max(
    0,
    interpolate2d(p.decodeKvTokens, p.decodeContextLength, p.decodeMs, kvTokens, kvTokens / seqs),
  );
}
