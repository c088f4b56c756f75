// The KV routing cost models (--router-cost-model) and cost-based selection.
// `linear`, Dynamo's (DESIGN §5), in blocks:
//   prefill_blocks          = (active_prefill_tokens + prompt_tokens) / block_size
//   adjusted_prefill_blocks = max(prefill_blocks - overlap_score_credit * overlap_blocks, 0)
//   decode_blocks           = active_decode_blocks + ceil(prompt_tokens / block_size)
//   cost                    = prefill_load_scale * adjusted_prefill_blocks + decode_blocks
// `ttft`, Kvasir's, in milliseconds, from the worker's card's perf profile: the request's predicted time to first
// token there, plus the time its own prefill adds to the first token of whoever queues behind it on that worker.
//   uncached = max(prompt_tokens - overlap_score_credit * overlap_blocks * block_size, 0)
//   backlog  = active_prefill_tokens + uncached            (prefilled in steps of max_num_batched_tokens)
//   ttft     = prefill_ms(backlog) + steps(backlog) * decode_step_ms(running sequences)
//   cost     = prefill_load_scale * (prefill_ms(backlog) + prefill_ms(uncached)) + steps(backlog) * decode_step_ms
// Prefill time is what a cached block saves. Without the second prefill term the choice is greedy for this request
// alone: a prefix recomputed on an idle worker costs it no more than waiting behind the worker that caches it, but
// it delays that worker's next requests by the whole prefill (and evicts other prefixes there); counting it is the
// marginal cost of the decision. The decode term is the slowdown the worker's running sequences add to every one
// of the steps, so decode load is a penalty in the same unit rather than a separate block count.
import { decodeStepMs, type PerfProfile } from "@kvasir/protocol";
import type { WorkerMatch } from "../indexer/types.js";
import { workerKey } from "../indexer/types.js";
import { prefillMs, prefillSteps } from "./perf-profile.js";
import type { Rng, SelectionRequest, WorkerCandidate } from "./types.js";

export const COST_MODELS = ["linear", "ttft"] as const;
export type CostModel = (typeof COST_MODELS)[number];

export interface KvCostConfig {
  /** --router-cost-model: `linear` (Dynamo's, in blocks; the default) or `ttft` (predicted ms to first token). */
  model: CostModel;
  /** --router-kv-overlap-score-credit: credit per cached prefix block against prefill load. Default 1. */
  overlapScoreCredit: number;
  /** --router-prefill-load-scale: weight of adjusted prefill blocks against decode blocks. Default 1. */
  prefillLoadScale: number;
  /** --router-temperature: 0 picks the cheapest; > 0 samples by softmax over negated normalized costs. */
  temperature: number;
}

export const DEFAULT_KV_COST_CONFIG: Readonly<KvCostConfig> = {
  model: "linear",
  overlapScoreCredit: 1,
  prefillLoadScale: 1,
  temperature: 0,
};

/** One candidate's projected load and cost if the request went there. */
export interface WorkerCost {
  workerId: bigint;
  dpRank: number;
  overlapBlocks: number;
  /** Prompt tokens in prefill on the worker, counting this request's uncached tokens. */
  potentialPrefillTokens: number;
  /** Blocks held on the worker, counting this request's. */
  potentialDecodeBlocks: number;
  adjustedPrefillBlocks: number;
  /** The ttft model's prediction, in ms (absent under the linear model). */
  predictedTtftMs?: number;
  cost: number;
}

function overlapMap(overlaps: readonly WorkerMatch[]): Map<string, number> {
  return new Map(overlaps.map((m) => [workerKey(m.workerId, m.dpRank), m.matchedBlocks]));
}

export function workerCosts(
  candidates: readonly WorkerCandidate[],
  req: SelectionRequest,
  overlaps: readonly WorkerMatch[],
  config: Readonly<KvCostConfig> = DEFAULT_KV_COST_CONFIG,
): WorkerCost[] {
  const costs = linearCosts(candidates, req, overlaps, config);
  if (config.model !== "ttft") return costs;
  // A worker whose card has no profile is assumed as fast as one that has; with none at all, seconds cannot be
  // predicted and the linear costs stand.
  const known = candidates.find((c) => c.perfProfile !== undefined)?.perfProfile;
  if (known === undefined) return costs;
  return costs.map((cost, i) => {
    const c = candidates[i] as WorkerCandidate;
    const profile = c.perfProfile ?? known;
    return { ...cost, ...ttftEstimate(c, req, cost.overlapBlocks, profile, config) };
  });
}

/**
 * The ttft model's view of sending `req` to `c` with `overlapBlocks` of it cached there. `predictedTtftMs`: prefill of
 * the worker's backlog plus this prompt's uncached tokens, plus its running sequences' decode time in each of those
 * steps. `cost`: that, plus the prefill the request adds ahead of the worker's next request.
 */
export function ttftEstimate(
  c: WorkerCandidate,
  req: SelectionRequest,
  overlapBlocks: number,
  profile: PerfProfile,
  config: Readonly<Pick<KvCostConfig, "overlapScoreCredit" | "prefillLoadScale">>,
): { predictedTtftMs: number; cost: number } {
  const stepTokens = c.maxNumBatchedTokens ?? 0;
  const uncached = Math.max(req.promptTokens - config.overlapScoreCredit * overlapBlocks * req.blockSize, 0);
  const backlog = c.load.activePrefillTokens + uncached;
  const kvTokens = c.load.activeDecodeBlocks * req.blockSize;
  const seqs = c.load.activeRequests;
  const decode = seqs > 0 ? decodeStepMs(profile, kvTokens, kvTokens / seqs) : 0;
  const predictedTtftMs =
    config.prefillLoadScale * prefillMs(profile, backlog, stepTokens) +
    prefillSteps(backlog, stepTokens) * decode;
  return {
    predictedTtftMs,
    cost: predictedTtftMs + config.prefillLoadScale * prefillMs(profile, uncached, stepTokens),
  };
}

function linearCosts(
  candidates: readonly WorkerCandidate[],
  req: SelectionRequest,
  overlaps: readonly WorkerMatch[],
  config: Readonly<KvCostConfig>,
): WorkerCost[] {
  const byKey = overlapMap(overlaps);
  const bs = req.blockSize;
  const requestBlocks = Math.ceil(req.promptTokens / bs);
  return candidates.map((c) => {
    // A match cannot exceed the prompt's own blocks.
    const overlapBlocks = Math.min(byKey.get(workerKey(c.workerId, c.dpRank)) ?? 0, requestBlocks);
    const prefillBlocks = (c.load.activePrefillTokens + req.promptTokens) / bs;
    const adjustedPrefillBlocks = Math.max(prefillBlocks - config.overlapScoreCredit * overlapBlocks, 0);
    const potentialDecodeBlocks = c.load.activeDecodeBlocks + requestBlocks;
    return {
      workerId: c.workerId,
      dpRank: c.dpRank,
      overlapBlocks,
      potentialPrefillTokens: c.load.activePrefillTokens + Math.max(req.promptTokens - overlapBlocks * bs, 0),
      potentialDecodeBlocks,
      adjustedPrefillBlocks,
      cost: config.prefillLoadScale * adjustedPrefillBlocks + potentialDecodeBlocks,
    };
  });
}

/**
 * Index of the chosen cost. Temperature 0: the lowest, ties broken uniformly at random. Temperature t > 0:
 * costs are normalized to [0, 1] by min/max and sampled with probability proportional to exp(-norm / t).
 */
export function pickByCost(costs: readonly number[], temperature: number, rng: Rng): number {
  if (costs.length === 0) return -1;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (const c of costs) {
    if (c < min) min = c;
    if (c > max) max = c;
  }
  if (temperature <= 0 || max === min) {
    const best: number[] = [];
    costs.forEach((c, i) => {
      if (c === min) best.push(i);
    });
    return best[Math.min(Math.floor(rng() * best.length), best.length - 1)] as number;
  }
  const weights = costs.map((c) => Math.exp(-(c - min) / (max - min) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let r = rng() * total;
  for (let i = 0; i < weights.length; i++) {
    r -= weights[i] as number;
    if (r < 0) return i;
  }
  return weights.length - 1;
}
