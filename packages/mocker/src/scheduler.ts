// Continuous-batching scheduler of one data-parallel rank, shaped like vLLM v1's: running requests first (decodes
// and unfinished prefill chunks) within one token budget, then waiting requests; recompute preemption when KV
// blocks run out.
import { type BlockCacheListener, type KvBlock, KvBlockManager } from "./block-manager.js";
import { type MockerConfig, watermarkBlocks } from "./config.js";
import type { Sampled, TokenLogprob } from "./sampler.js";
import type { EngineFinishReason, Sequence } from "./sequence.js";
import type { StepWork } from "./timing.js";

/** Work scheduled for one sequence in one step. */
export interface ScheduledChunk {
  seq: Sequence;
  numNew: number;
  /** Tokens of the sequence already in its KV cache when the chunk runs. */
  contextBefore: number;
  /** A one-token decode of a generated token, as opposed to a prefill chunk. */
  decode: boolean;
}

export interface ScheduledBatch {
  chunks: ScheduledChunk[];
  preempted: Sequence[];
}

/** Per-request result of a step (or of an abort). */
export interface StepOutput {
  requestId: string;
  /** Token ids generated in this step (empty for a cancellation). */
  tokenIds: number[];
  /** Set on the request's last output only. */
  finishReason?: EngineFinishReason;
  promptTokens: number;
  /** Tokens generated so far, this step's included. */
  completionTokens: number;
  /** Prompt tokens found in the prefix cache at the first schedule (0 until then). */
  cachedTokens: number;
  /** One per token of tokenIds, when the request asked for logprobs. */
  logprobs?: TokenLogprob[];
}

export function outputOf(seq: Sequence, tokenIds: number[], logprobs?: TokenLogprob[]): StepOutput {
  return {
    requestId: seq.requestId,
    tokenIds,
    ...(logprobs ? { logprobs } : {}),
    ...(seq.finishReason ? { finishReason: seq.finishReason } : {}),
    promptTokens: seq.promptLength,
    completionTokens: seq.numGenerated,
    cachedTokens: seq.cachedTokens ?? 0,
  };
}

export class RankScheduler {
  readonly blocks: KvBlockManager;
  /** Ordered by priority (higher first), then arrival. */
  private readonly waiting: Sequence[] = [];
  /** In admission order; preemption takes victims from the back. */
  private running: Sequence[] = [];
  private readonly watermark: number;
  private readonly eosTokenIds: ReadonlySet<number>;
  /** The EOS id the mocker emits to end a reply; none when the model's EOS ids are unknown. */
  private readonly eosTokenId: number | undefined;

  constructor(
    private readonly config: MockerConfig,
    listener: BlockCacheListener,
  ) {
    this.blocks = new KvBlockManager(config.numGpuBlocks, listener);
    this.watermark = watermarkBlocks(config);
    this.eosTokenIds = new Set(config.eosTokenIds);
    this.eosTokenId = config.eosTokenIds[0];
  }

  get numWaiting(): number {
    return this.waiting.length;
  }

  get numRunning(): number {
    return this.running.length;
  }

  get numRequests(): number {
    return this.waiting.length + this.running.length;
  }

  /** Prompt tokens (or recompute tokens after preemption) not yet prefilled, over all requests. */
  get prefillTokensInFlight(): number {
    let sum = 0;
    for (const seq of this.waiting) sum += seq.remainingPrefill;
    for (const seq of this.running) sum += seq.remainingPrefill;
    return sum;
  }

  /** Removes the request and frees its blocks at once. */
  remove(seq: Sequence): void {
    const w = this.waiting.indexOf(seq);
    if (w >= 0) this.waiting.splice(w, 1);
    const r = this.running.indexOf(seq);
    if (r >= 0) this.running.splice(r, 1);
    this.freeBlocks(seq);
  }

  /** Removes every request and empties the prefix cache; returns the removed requests. */
  clear(): Sequence[] {
    const all = [...this.running, ...this.waiting];
    for (const seq of all) this.freeBlocks(seq);
    this.running = [];
    this.waiting.length = 0;
    this.blocks.clear();
    return all;
  }

  schedule(): ScheduledBatch {
    const chunks: ScheduledChunk[] = [];
    const preempted: Sequence[] = [];
    let budget = this.config.maxNumBatchedTokens;

    let i = 0;
    while (i < this.running.length && budget > 0) {
      const seq = this.running[i] as Sequence;
      const numNew = Math.min(seq.tokens.length - seq.numComputed, budget);
      const contextBefore = seq.numComputed;
      // When the sequence itself is preempted, running[i] is already the next one.
      if (!this.growTo(seq, contextBefore + numNew, i, preempted)) continue;
      const decode = seq.numGenerated > 0 && contextBefore === seq.tokens.length - 1;
      chunks.push({ seq, numNew, contextBefore, decode });
      budget -= numNew;
      i++;
    }

    // As vLLM: a step that had to preempt admits nobody new.
    if (preempted.length > 0) return { chunks, preempted };
    const bs = this.config.blockSize;
    while (this.waiting.length > 0 && budget > 0 && this.running.length < this.config.maxNumSeqs) {
      const seq = this.waiting[0] as Sequence;
      const total = seq.tokens.length;
      let hits = 0;
      if (this.config.enablePrefixCaching) {
        // At least the last token is computed, so a fully cached prompt still runs one token (as vLLM).
        const limit = Math.floor((total - 1) / bs);
        seq.hashBlocks(limit);
        hits = this.blocks.cachedPrefixLength(seq.seqHashes, limit);
      }
      // Imported KV counts as computed like a prefix hit, but only on the first admission: a preempted request
      // dropped those blocks and recomputes them.
      const computed = Math.max(hits * bs, seq.externalTokens);
      let numNew = total - computed;
      if (!this.config.enableChunkedPrefill && numNew > budget) break;
      numNew = Math.min(numNew, budget);
      const needed =
        Math.ceil((computed + numNew) / bs) - hits + this.blocks.countEvictable(seq.seqHashes, hits);
      if (this.blocks.numFree - needed < this.watermark) break;
      for (let h = 0; h < hits; h++) seq.blocks.push(this.blocks.acquireCached(seq.seqHashes[h] as bigint));
      this.allocateUpTo(seq, computed + numNew);
      seq.numComputed = computed;
      seq.numCommittedBlocks = hits;
      seq.cachedTokens ??= Math.min(hits * bs, seq.promptLength);
      seq.externalTokens = 0;
      this.waiting.shift();
      this.running.push(seq);
      chunks.push({ seq, numNew, contextBefore: computed, decode: false });
      budget -= numNew;
    }
    return { chunks, preempted };
  }

  /** Applies a scheduled batch once its time has passed: KV computed, blocks cached, one token per finished prefill. */
  complete(batch: ScheduledBatch): StepOutput[] {
    const outputs: StepOutput[] = [];
    let finished = false;
    for (const { seq, numNew } of batch.chunks) {
      seq.numComputed += numNew;
      this.cacheFullBlocks(seq);
      if (seq.numComputed < seq.tokens.length) continue;
      const position = seq.numGenerated;
      const token = this.sampleNext(seq);
      if (seq.finishReason) {
        this.freeBlocks(seq);
        finished = true;
      }
      const logprobs =
        seq.logprobs === undefined ? undefined : [seq.sampler.logprobs(position, token, seq.logprobs)];
      outputs.push(outputOf(seq, [token.id], logprobs));
    }
    if (finished) this.running = this.running.filter((seq) => seq.finishReason === undefined);
    return outputs;
  }

  work(batch: ScheduledBatch): StepWork {
    const work: StepWork = { prefills: [], decodeSeqs: 0, decodeKvTokens: 0 };
    for (const chunk of batch.chunks) {
      if (chunk.decode) {
        work.decodeSeqs++;
        work.decodeKvTokens += chunk.contextBefore + 1;
      } else {
        work.prefills.push({ newTokens: chunk.numNew, contextTokens: chunk.contextBefore });
      }
    }
    return work;
  }

  /** Queues a request in the waiting order (priority, then arrival). */
  add(seq: Sequence): void {
    // Binary search for the first request that goes after `seq`.
    let lo = 0;
    let hi = this.waiting.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const other = this.waiting[mid] as Sequence;
      const after =
        other.priority < seq.priority || (other.priority === seq.priority && other.arrival > seq.arrival);
      if (after) hi = mid;
      else lo = mid + 1;
    }
    this.waiting.splice(lo, 0, seq);
  }

  /** Ensures `seq` has blocks for `tokens`, preempting running[index..] as needed; false if `seq` was preempted. */
  private growTo(seq: Sequence, tokens: number, index: number, preempted: Sequence[]): boolean {
    const needed = Math.ceil(tokens / this.config.blockSize) - seq.blocks.length;
    while (needed > this.blocks.numFree) {
      const victim = this.pickVictim(index);
      this.preempt(victim);
      preempted.push(victim);
      if (victim === seq) return false;
    }
    this.allocateUpTo(seq, tokens);
    return true;
  }

  /** Lowest priority among the requests not yet scheduled this step; the latest arrival among equals. */
  private pickVictim(from: number): Sequence {
    let victim = this.running[from] as Sequence;
    for (let k = from + 1; k < this.running.length; k++) {
      const seq = this.running[k] as Sequence;
      if (
        seq.priority < victim.priority ||
        (seq.priority === victim.priority && seq.arrival > victim.arrival)
      ) {
        victim = seq;
      }
    }
    return victim;
  }

  /** Recompute preemption: the request drops its blocks (cached ones stay reusable) and waits again. */
  private preempt(seq: Sequence): void {
    this.running.splice(this.running.indexOf(seq), 1);
    this.freeBlocks(seq);
    this.add(seq);
  }

  private allocateUpTo(seq: Sequence, tokens: number): void {
    const target = Math.ceil(tokens / this.config.blockSize);
    while (seq.blocks.length < target) {
      const block = this.blocks.allocate();
      // Callers check capacity first; running out here is a scheduler bug, not a load condition.
      if (!block) throw new Error(`KV blocks exhausted while allocating for ${seq.requestId}`);
      seq.blocks.push(block);
    }
  }

  private freeBlocks(seq: Sequence): void {
    this.blocks.release(seq.blocks);
    seq.blocks = [];
    seq.numComputed = 0;
    seq.numCommittedBlocks = 0;
  }

  /** Enters the sequence's newly computed full blocks into the prefix cache (one Stored event each). */
  private cacheFullBlocks(seq: Sequence): void {
    if (!this.config.enablePrefixCaching) return;
    const bs = this.config.blockSize;
    const full = Math.floor(seq.numComputed / bs);
    seq.hashBlocks(full);
    for (let b = seq.numCommittedBlocks; b < full; b++) {
      this.blocks.cache(seq.blocks[b] as KvBlock, {
        seqHash: seq.seqHashes[b] as bigint,
        localHash: seq.localHashes[b] as bigint,
        parentSeqHash: b > 0 ? seq.seqHashes[b - 1] : undefined,
        tokenIds: seq.tokens.slice(b * bs, (b + 1) * bs),
        loraName: seq.loraName,
      });
    }
    seq.numCommittedBlocks = Math.max(seq.numCommittedBlocks, full);
  }

  /**
   * The next token and whether the request ends with it: a guided output's next token, EOS at the drawn output
   * length (never before min_tokens), or a sampled token that avoids EOS and, before min_tokens, stop ids.
   */
  private sampleNext(seq: Sequence): Sampled {
    const position = seq.numGenerated;
    const stopAllowed = position >= seq.minTokens;
    const eos = seq.ignoreEos ? undefined : this.eosTokenId;
    const guided = seq.guidedTokenIds;
    let token: Sampled;
    if (guided && position < guided.length) token = { id: guided[position] as number, rank: 0 };
    else if (eos !== undefined && stopAllowed && (guided || position === seq.eosAt))
      token = { id: eos, rank: 0 };
    else {
      token = seq.sampler.pick(
        position,
        (id) => this.eosTokenIds.has(id) || (!stopAllowed && seq.stopTokenIds.has(id)),
      );
    }
    seq.tokens.push(token.id);
    const guidedDone = guided !== undefined && eos === undefined && seq.numGenerated >= guided.length;
    if (seq.stopTokenIds.has(token.id) || token.id === eos || guidedDone) seq.finishReason = "stop";
    else if (seq.numGenerated >= seq.maxTokens || seq.tokens.length >= this.config.maxModelLen) {
      seq.finishReason = "length";
    }
    return token;
  }
}
