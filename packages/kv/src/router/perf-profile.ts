// What the TTFT cost model adds to a worker's perf profile (packages/protocol's perf-profile.ts owns the profile, its
// edge rules and its interpolation): a prefill split into steps of the worker's batch budget, as chunked prefill runs.
import { type PerfProfile, prefillStepMs } from "@kvasir/protocol";

/**
 * Milliseconds to prefill `tokens` when each step takes at most `stepTokens` of them (chunked prefill at the
 * worker's max_num_batched_tokens); `stepTokens` 0 means unchunked.
 */
export function prefillMs(p: PerfProfile, tokens: number, stepTokens: number): number {
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
