// One request inside the engine: its tokens, block hashes, KV blocks and progress.
import { computeBlockHashes, computeLocalHashes, type HashOptions, nextSeqHash } from "@kvasir/kv";
import type { KvBlock } from "./block-manager.js";
import type { TokenSampler } from "./sampler.js";

/** A request as the engine takes it (the fields of kvasir.worker.v1.GenerateRequest it needs). */
export interface EngineRequest {
  requestId: string;
  tokenIds: ArrayLike<number>;
  /** Most tokens to generate; must be > 0. */
  maxTokens: number;
  /** Generate until max_tokens: no EOS at the drawn output length (nor after a guided output). */
  ignoreEos?: boolean;
  /** Generation stops after producing one of these (once minTokens are out); the stop token is returned. */
  stopTokenIds?: ArrayLike<number>;
  /** Stop tokens are not produced before this many tokens (as vLLM masks them). */
  minTokens?: number;
  /** Fixes the output ids; without it they follow from the engine seed and the request id. */
  seed?: number | bigint;
  /** Scales the sampling distribution's logits (0: always its most likely token). Default 1. */
  temperature?: number;
  /** Report each token's logprob and this many alternatives (StepOutput.logprobs). */
  logprobs?: number;
  /**
   * Guided decoding: the output, already decided and tokenized (a JSON value valid against the request's schema).
   * These tokens come out in order, then EOS (unless ignoreEos), instead of sampled ones.
   */
  guidedTokenIds?: readonly number[];
  /** Higher is admitted earlier and preempted later. */
  priority?: number;
  /** Data-parallel rank; ignored with one rank, least loaded rank when absent. */
  dpRank?: number;
  loraName?: string;
  cacheSalt?: string;
  /**
   * Leading prompt tokens whose KV arrived from elsewhere (a prefill worker, in disaggregated serving): the first
   * admission counts them as computed, as vLLM's connectors report external hits. At most the prompt less one
   * token, since the last prompt token is always computed locally to sample the first output.
   */
  externalComputedTokens?: number;
}

export type EngineFinishReason = "stop" | "length" | "cancelled";

export class Sequence {
  readonly requestId: string;
  readonly promptLength: number;
  /** Prompt followed by the tokens generated so far. */
  readonly tokens: number[];
  readonly maxTokens: number;
  readonly minTokens: number;
  readonly stopTokenIds: ReadonlySet<number>;
  readonly priority: number;
  readonly loraName: string;
  private readonly hashOptions: HashOptions;
  /** Hashes of the full blocks of `tokens` computed so far (filled lazily as blocks fill). */
  readonly localHashes: bigint[] = [];
  readonly seqHashes: bigint[] = [];
  blocks: KvBlock[] = [];
  /** Tokens whose KV is computed. */
  numComputed = 0;
  /** Leading blocks already looked at for caching (hits, or entered into the cache). */
  numCommittedBlocks = 0;
  /** Prompt tokens found in the prefix cache at the first schedule. */
  cachedTokens: number | undefined;
  /** Tokens imported from elsewhere, counted as computed at the first admission only (a preemption loses them). */
  externalTokens: number;
  finishReason: EngineFinishReason | undefined;
  readonly ignoreEos: boolean;
  readonly logprobs: number | undefined;
  readonly guidedTokenIds: readonly number[] | undefined;
  /** Output position at which EOS comes (the drawn output length less one); undefined: never. */
  eosAt: number | undefined;

  constructor(
    request: EngineRequest,
    /** Admission order; ties in priority go to the earlier request. */
    readonly arrival: number,
    readonly dpRank: number,
    readonly sampler: TokenSampler,
    private readonly blockSize: number,
    prefixCaching: boolean,
  ) {
    this.requestId = request.requestId;
    this.tokens = Array.from(request.tokenIds);
    this.promptLength = this.tokens.length;
    this.maxTokens = request.maxTokens;
    this.minTokens = request.minTokens ?? 0;
    this.stopTokenIds = new Set(Array.from(request.stopTokenIds ?? []));
    this.priority = request.priority ?? 0;
    this.externalTokens = Math.min(request.externalComputedTokens ?? 0, this.promptLength - 1);
    this.loraName = request.loraName ?? "";
    this.ignoreEos = request.ignoreEos ?? false;
    this.logprobs = request.logprobs;
    this.guidedTokenIds = request.guidedTokenIds;
    this.hashOptions = {
      ...(request.loraName ? { loraName: request.loraName } : {}),
      ...(request.cacheSalt ? { cacheSalt: request.cacheSalt } : {}),
    };
    if (prefixCaching) {
      const { local, seq } = computeBlockHashes(this.tokens, blockSize, this.hashOptions);
      this.localHashes.push(...local);
      this.seqHashes.push(...seq);
    }
  }

  get numGenerated(): number {
    return this.tokens.length - this.promptLength;
  }

  /** Prompt (or, after preemption, prompt plus output) tokens still to prefill. */
  get remainingPrefill(): number {
    const left = this.tokens.length - Math.max(this.numComputed, this.externalTokens);
    return this.numGenerated === 0 || left > 1 ? left : 0;
  }

  /** Extends the hashes to cover the first `n` full blocks (blocks filled by generated tokens). */
  hashBlocks(n: number): void {
    const bs = this.blockSize;
    for (let b = this.seqHashes.length; b < n; b++) {
      const local = computeLocalHashes(
        this.tokens.slice(b * bs, (b + 1) * bs),
        bs,
        this.hashOptions,
      )[0] as bigint;
      this.localHashes.push(local);
      this.seqHashes.push(nextSeqHash(this.seqHashes[b - 1], local));
    }
  }
}
