// How long one engine step takes, from the work scheduled in it (docs/mocker.md, "Timing model").
import { decodeStepMs, prefillStepMs } from "@kvasir/protocol";
import type { MockerConfig } from "./config.js";

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
      const prefillTokens = work.prefills.reduce((sum, p) => sum + p.newTokens, 0);
      const decode =
        work.decodeSeqs > 0
          ? decodeStepMs(profile, work.decodeKvTokens, work.decodeKvTokens / work.decodeSeqs)
          : 0;
      return (prefillStepMs(profile, prefillTokens) + decode) / speedup;
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
