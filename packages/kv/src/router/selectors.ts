// Worker-selection policies behind one interface (--router-mode): round-robin, random, least-loaded and kv.
import type { KvIndexer, WorkerMatch } from "../indexer/types.js";
import { workerKey } from "../indexer/types.js";
import {
  DEFAULT_KV_COST_CONFIG,
  type KvCostConfig,
  pickByCost,
  type WorkerCost,
  workerCosts,
} from "./cost.js";
import type { Rng, SelectionRequest, WorkerCandidate, WorkerSelection, WorkerSelector } from "./types.js";

function overlapOf(overlaps: readonly WorkerMatch[] | undefined, c: WorkerCandidate): number {
  const k = workerKey(c.workerId, c.dpRank);
  return overlaps?.find((m) => workerKey(m.workerId, m.dpRank) === k)?.matchedBlocks ?? 0;
}

function selection(c: WorkerCandidate, req: SelectionRequest): WorkerSelection {
  return { workerId: c.workerId, dpRank: c.dpRank, overlapBlocks: overlapOf(req.overlaps, c) };
}

function randomIndex(n: number, rng: Rng): number {
  return Math.min(Math.floor(rng() * n), n - 1);
}

/** Cycles through the candidates in the order given. */
export class RoundRobinSelector implements WorkerSelector {
  private next = 0;

  select(candidates: readonly WorkerCandidate[], req: SelectionRequest): WorkerSelection | undefined {
    if (candidates.length === 0) return undefined;
    const c = candidates[this.next % candidates.length] as WorkerCandidate;
    this.next = (this.next + 1) % Number.MAX_SAFE_INTEGER;
    return selection(c, req);
  }
}

export class RandomSelector implements WorkerSelector {
  constructor(private readonly rng: Rng = Math.random) {}

  select(candidates: readonly WorkerCandidate[], req: SelectionRequest): WorkerSelection | undefined {
    if (candidates.length === 0) return undefined;
    return selection(candidates[randomIndex(candidates.length, this.rng)] as WorkerCandidate, req);
  }
}

/** Fewest active requests; ties broken at random. */
export class LeastLoadedSelector implements WorkerSelector {
  constructor(private readonly rng: Rng = Math.random) {}

  select(candidates: readonly WorkerCandidate[], req: SelectionRequest): WorkerSelection | undefined {
    if (candidates.length === 0) return undefined;
    const least = Math.min(...candidates.map((c) => c.load.activeRequests));
    const ties = candidates.filter((c) => c.load.activeRequests === least);
    return selection(ties[randomIndex(ties.length, this.rng)] as WorkerCandidate, req);
  }
}

export interface KvSelectorOptions {
  config?: Partial<KvCostConfig>;
  rng?: Rng;
  /** Asked for overlaps when the request does not carry them. */
  indexer?: KvIndexer;
}

/** KV-aware selection: Dynamo's cost model over overlap and load (cost.ts). */
export class KvSelector implements WorkerSelector {
  readonly config: Readonly<KvCostConfig>;
  private readonly rng: Rng;
  private readonly indexer: KvIndexer | undefined;

  constructor(opts: KvSelectorOptions = {}) {
    this.config = { ...DEFAULT_KV_COST_CONFIG, ...opts.config };
    this.rng = opts.rng ?? Math.random;
    this.indexer = opts.indexer;
  }

  /** Every candidate's projected load and cost (the PotentialLoads answer). */
  costs(candidates: readonly WorkerCandidate[], req: SelectionRequest): WorkerCost[] {
    const overlaps = req.overlaps ?? this.indexer?.findMatches(req.localHashes) ?? [];
    return workerCosts(candidates, req, overlaps, this.config);
  }

  select(candidates: readonly WorkerCandidate[], req: SelectionRequest): WorkerSelection | undefined {
    const costs = this.costs(candidates, req);
    const i = pickByCost(
      costs.map((c) => c.cost),
      this.config.temperature,
      this.rng,
    );
    const c = costs[i];
    return c === undefined
      ? undefined
      : { workerId: c.workerId, dpRank: c.dpRank, overlapBlocks: c.overlapBlocks };
  }
}

export type RouterMode = "round-robin" | "random" | "least-loaded" | "kv";

/** The selector for a --router-mode. */
export function createSelector(mode: RouterMode, opts: KvSelectorOptions = {}): WorkerSelector {
  switch (mode) {
    case "round-robin":
      return new RoundRobinSelector();
    case "random":
      return new RandomSelector(opts.rng);
    case "least-loaded":
      return new LeastLoadedSelector(opts.rng);
    case "kv":
      return new KvSelector(opts);
  }
}
