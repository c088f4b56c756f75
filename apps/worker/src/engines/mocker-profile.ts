// The mocker's step timings sampled into the perf profile its card publishes, the way a real engine would be
// profiled: prefill steps of growing size, decode steps over a grid of (KV tokens, mean context). The samples come
// from the engine's own step timer, so the router predicts exactly the speed the simulation runs at.

import { createStepTimer, type MockerConfig } from "@kvasir/mocker";
import type { PerfProfile } from "@kvasir/protocol";

/** 1, then powers of four from 16, up to and including `max`. */
function grid(max: number): number[] {
  const xs = [1];
  for (let x = 16; x < max; x *= 4) xs.push(x);
  if (max > 1) xs.push(max);
  return xs;
}

export function mockerPerfProfile(config: MockerConfig): PerfProfile {
  const step = createStepTimer(config);
  // Chunked prefill never runs a step larger than the batch budget; unchunked, a whole prompt is one step.
  const largestStep = config.enableChunkedPrefill
    ? config.maxNumBatchedTokens
    : Math.max(config.maxNumBatchedTokens, config.maxModelLen);
  const prefillTokens = grid(largestStep);
  const decodeKvTokens = grid(config.numGpuBlocks * config.blockSize);
  const decodeContextLength = grid(config.maxModelLen);
  return {
    prefillTokens,
    prefillMs: prefillTokens.map((n) =>
      step({ prefills: [{ newTokens: n, contextTokens: 0 }], decodeSeqs: 0, decodeKvTokens: 0 }),
    ),
    decodeKvTokens,
    decodeContextLength,
    decodeMs: decodeKvTokens.map((kv) =>
      decodeContextLength.map((ctx) => step({ prefills: [], decodeSeqs: kv / ctx, decodeKvTokens: kv })),
    ),
  };
}
