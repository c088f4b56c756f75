// How long one engine step takes, from the work scheduled in it (docs/mocker.md, "Timing model").
import type { MockerConfig } from "./config.js";
import { interpolate1d, interpolate2d } from "./perf-profile.js";

/** The work of one step on one rank. */
export interface StepWork {
  /** One entry per prefill chunk: new tokens computed, and tokens already in the sequence's KV cache. */
  prefills: { newTokens: number; contextTokens: number }[];
  /** Number of sequences decoding one token. */
  decodeSeqs: number;
  /** Sum over decoding sequences of the tokens each attends (its context length including the new token). */
  decodeKvTokens: number;
}

export type StepTimer = (work: StepWork) => number;

/** Step duration in ms (after speedupRatio) from the polynomial defaults or the perf profile. */
export function createStepTimer(config: MockerConfig): StepTimer {
  const profile = config.perfProfile;
  const speedup = config.speedupRatio;
  if (profile) {
    // As Dynamo's mocker: prefill time of the step's total new tokens plus decode time at (active KV, mean context).
    return (work) => {
      let ms = 0;
      const prefillTokens = work.prefills.reduce((sum, p) => sum + p.newTokens, 0);
      if (prefillTokens > 0) {
        ms += Math.max(0, interpolate1d(profile.prefill_isl, profile.prefill_ttft_ms, prefillTokens));
      }
      if (work.decodeSeqs > 0) {
        const meanContext = work.decodeKvTokens / work.decodeSeqs;
        ms += Math.max(
          0,
          interpolate2d(
            profile.decode_active_kv_tokens,
            profile.decode_context_length,
            profile.decode_itl,
            work.decodeKvTokens,
            meanContext,
          ),
        );
      }
      return ms / speedup;
    };
  }
  const c = config.timing;
  return (work) => {
    if (work.prefills.length === 0 && work.decodeSeqs === 0) return 0;
    let ms = c.stepOverheadMs;
    for (const { newTokens: n, contextTokens: ctx } of work.prefills) {
      // Causal attention: the chunk's n queries attend the ctx cached tokens and, on average, half the chunk.
      ms += c.prefillMsPerToken * n + c.prefillMsPerAttendedPair * n * (ctx + n / 2);
    }
    ms += c.decodeMsPerSeq * work.decodeSeqs + c.decodeMsPerKvToken * work.decodeKvTokens;
    return ms / speedup;
  };
}
