// How hard a replayed trace drives the mocker workers: the prefill time its prompts need with no cache hits,
// over the engine time the workers have during the replay. Used to pick a --speedup that brings round-robin (which
// gets few hits) near saturation.
import type { TimingCoefficients } from "@kvasir/mocker";
import type { TraceRow } from "./trace.js";

/** Simulated ms to prefill `tokens` from scratch in chunks of `chunkTokens`, at speedup 1 (mocker timing model). */
export function prefillMs(tokens: number, timing: TimingCoefficients, chunkTokens: number): number {
  let ms = 0;
  for (let done = 0; done < tokens; done += chunkTokens) {
    const n = Math.min(chunkTokens, tokens - done);
    ms +=
      timing.stepOverheadMs +
      timing.prefillMsPerToken * n +
      timing.prefillMsPerAttendedPair * n * (done + n / 2);
  }
  return ms;
}

export interface LoadModel {
  workers: number;
  /** The mocker's --speedup-ratio. */
  mockerSpeedup: number;
  timing: TimingCoefficients;
  /** The mocker's --max-num-batched-tokens (prefill chunk size). */
  chunkTokens: number;
}

/** Uncached prefill utilization of the workers when the rows are replayed `speedup` times faster than recorded. */
export function offeredLoad(rows: readonly TraceRow[], speedup: number, m: LoadModel): number {
  const first = rows[0];
  const last = rows.at(-1);
  if (!first || !last || last.timestamp === first.timestamp) return Number.POSITIVE_INFINITY;
  const work =
    rows.reduce((ms, r) => ms + prefillMs(r.inputLength, m.timing, m.chunkTokens), 0) / m.mockerSpeedup;
  const available = (m.workers * (last.timestamp - first.timestamp)) / speedup;
  return work / available;
}

/** The replay speedup at which offeredLoad equals `target` (load grows linearly with speedup). */
export function speedupForLoad(rows: readonly TraceRow[], target: number, m: LoadModel): number {
  return target / offeredLoad(rows, 1, m);
}
