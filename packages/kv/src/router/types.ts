// What every worker-selection policy sees and returns; the frontend and router apps code against this.
import type { PerfProfile } from "@kvasir/protocol";
import type { WorkerMatch } from "../indexer/types.js";

/** Random source in [0, 1); injectable so selection is deterministic under test. */
export type Rng = () => number;

/** Live load of one (worker, dp rank), as tracked by ActiveSequences. */
export interface WorkerLoad {
  /** Uncached prompt tokens of requests still in prefill. */
  activePrefillTokens: number;
  /** KV blocks held by active requests (prompt blocks, from admission until free). */
  activeDecodeBlocks: number;
  activeRequests: number;
}

export interface WorkerCandidate {
  workerId: bigint;
  dpRank: number;
  load: WorkerLoad;
  /** Step timings from the worker's card, for the ttft cost model. */
  perfProfile?: PerfProfile;
  /** The worker's step token budget (prefill chunk size); unknown when absent. */
  maxNumBatchedTokens?: number;
}

export interface SelectionRequest {
  /** The request's local block hashes (full blocks, prefix order). */
  localHashes: BigUint64Array;
  promptTokens: number;
  blockSize: number;
  /** Matched blocks per worker, when the caller already asked an indexer (e.g. a remote one). */
  overlaps?: readonly WorkerMatch[];
}

export interface WorkerSelection {
  workerId: bigint;
  dpRank: number;
  /** Leading blocks of the request already cached on the chosen worker (0 when unknown). */
  overlapBlocks: number;
}

export interface WorkerSelector {
  /** Picks one candidate; undefined only when there are none. */
  select(candidates: readonly WorkerCandidate[], req: SelectionRequest): WorkerSelection | undefined;
}

export const EMPTY_LOAD: WorkerLoad = { activePrefillTokens: 0, activeDecodeBlocks: 0, activeRequests: 0 };
