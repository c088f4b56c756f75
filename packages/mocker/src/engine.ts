// The simulated engine: data-parallel ranks, each with its own scheduler and KV cache, stepped by the caller.
// Deterministic: no clock inside. step() says how long the step takes; the caller waits that long.
import { create, type KvEvent, type LoadMetrics, LoadMetricsSchema } from "@kvasir/protocol";
import { type MockerConfig, type MockerConfigInput, resolveMockerConfig, watermarkBlocks } from "./config.js";
import { KvEventLog } from "./kv-events.js";
import { requestSeed, TokenSampler } from "./sampler.js";
import { outputOf, RankScheduler, type ScheduledBatch, type StepOutput } from "./scheduler.js";
import { type EngineRequest, Sequence } from "./sequence.js";
import { createStepTimer, type StepTimer } from "./timing.js";

export interface MockEngineOptions {
  /** Worker id stamped on KV events and load metrics. */
  workerId?: bigint;
  /** Id of the first KV event (default 0). */
  firstEventId?: bigint;
}

export interface StepResult {
  /** Simulated duration of the step (already divided by speedupRatio). */
  durationMs: number;
  /** One entry per request that produced a token (or finished) in this step. */
  outputs: StepOutput[];
  /** Cache changes of this step, in order, over all ranks. */
  kvEvents: KvEvent[];
  /** One per dp rank, as of the end of the step. */
  loadMetrics: LoadMetrics[];
  /** Requests preempted (sent back to waiting for recompute) in this step. */
  preempted: string[];
}

export class MockEngine {
  readonly config: MockerConfig;
  private readonly workerId: bigint;
  private readonly ranks: RankScheduler[];
  private readonly events: KvEventLog;
  private readonly timer: StepTimer;
  private readonly sequences = new Map<string, Sequence>();
  private arrivals = 0;

  constructor(config: MockerConfigInput = {}, options: MockEngineOptions = {}) {
    this.config = resolveMockerConfig(config);
    this.workerId = options.workerId ?? 0n;
    this.events = new KvEventLog(this.workerId, this.config.blockSize, options.firstEventId ?? 0n);
    this.timer = createStepTimer(this.config);
    this.ranks = Array.from(
      { length: this.config.dataParallelSize },
      (_, rank) => new RankScheduler(this.config, this.events.listenerFor(rank)),
    );
  }

  /** Requests in the engine (waiting or running). */
  get numRequests(): number {
    return this.sequences.size;
  }

  /** Why the engine would refuse the request, or undefined when it is acceptable. */
  validateRequest(request: EngineRequest): string | undefined {
    const c = this.config;
    if (typeof request.requestId !== "string" || request.requestId === "")
      return "request_id must not be empty";
    if (this.sequences.has(request.requestId))
      return `request id ${request.requestId} is already in the engine`;
    const prompt = request.tokenIds.length;
    if (prompt === 0) return "the prompt is empty: at least one prompt token is required";
    for (let i = 0; i < prompt; i++) {
      const t = request.tokenIds[i] as number;
      if (!Number.isInteger(t) || t < 0 || t >= 2 ** 32)
        return `prompt token ${i} (${t}) is not a valid token id`;
    }
    if (!Number.isInteger(request.maxTokens) || request.maxTokens <= 0) {
      return `max_tokens must be a positive integer, got ${request.maxTokens}`;
    }
    const minTokens = request.minTokens ?? 0;
    if (!Number.isInteger(minTokens) || minTokens < 0 || minTokens > request.maxTokens) {
      return `min_tokens must be an integer between 0 and max_tokens (${request.maxTokens}), got ${minTokens}`;
    }
    const external = request.externalComputedTokens;
    if (external !== undefined && !(Number.isInteger(external) && external >= 0)) {
      return `externalComputedTokens must be a non-negative integer, got ${external}`;
    }
    const temperature = request.temperature;
    if (temperature !== undefined && !(Number.isFinite(temperature) && temperature >= 0)) {
      return `temperature must be a finite number >= 0, got ${temperature}`;
    }
    const logprobs = request.logprobs;
    if (logprobs !== undefined && !(Number.isInteger(logprobs) && logprobs >= 0)) {
      return `logprobs must be a non-negative integer, got ${logprobs}`;
    }
    for (const id of request.guidedTokenIds ?? []) {
      if (!Number.isInteger(id) || id < 0 || id >= 2 ** 32)
        return `guided token ${id} is not a valid token id`;
    }
    if (request.priority !== undefined && !Number.isFinite(request.priority)) {
      return `priority must be a finite number, got ${request.priority}`;
    }
    // As vLLM: the prompt alone must fit the context, leaving room for at least one generated token.
    if (prompt >= c.maxModelLen) {
      return (
        `the prompt has ${prompt} tokens but the context length is ${c.maxModelLen}: ` +
        "the prompt must be shorter than the context length to leave room for a generated token"
      );
    }
    const rank = request.dpRank;
    if (
      c.dataParallelSize > 1 &&
      rank !== undefined &&
      !(Number.isInteger(rank) && rank >= 0 && rank < c.dataParallelSize)
    ) {
      return `dp_rank ${rank} is out of range: the engine has ${c.dataParallelSize} data-parallel ranks`;
    }
    // A request that could outgrow a whole rank would preempt itself forever.
    const reach = Math.min(prompt + request.maxTokens, c.maxModelLen);
    const needed = Math.ceil(reach / c.blockSize);
    const usable = c.numGpuBlocks - watermarkBlocks(c);
    if (needed > usable) {
      return (
        `the request can reach ${reach} tokens (prompt plus max_tokens, at most the context length), ` +
        `which needs ${needed} KV blocks of ${c.blockSize} tokens, but a rank has ${usable} usable blocks`
      );
    }
    return undefined;
  }

  /** Queues a request; returns the dp rank that serves it. Throws with validateRequest's message when invalid. */
  addRequest(request: EngineRequest): number {
    const invalid = this.validateRequest(request);
    if (invalid !== undefined) throw new Error(invalid);
    const rank = this.pickRank(request.dpRank);
    const c = this.config;
    const sampler = new TokenSampler(
      requestSeed(request.requestId, request.seed, c.seed),
      c.outputTokenIdMin,
      c.outputTokenIdMax,
      request.temperature ?? 1,
    );
    const seq = new Sequence(request, this.arrivals++, rank, sampler, c.blockSize, c.enablePrefixCaching);
    if (c.randomOutputLen > 0) {
      const spread = c.randomOutputLen * c.randomRangeRatio;
      const length = Math.max(1, Math.round(c.randomOutputLen - spread + 2 * spread * sampler.uniform(0, 1)));
      seq.eosAt = Math.max(length - 1, seq.minTokens);
    }
    this.sequences.set(seq.requestId, seq);
    this.rank(rank).add(seq);
    return rank;
  }

  /** Ends a request at once and frees its blocks; its final output, or undefined when it is not in the engine. */
  abort(requestId: string): StepOutput | undefined {
    const seq = this.sequences.get(requestId);
    if (!seq) return undefined;
    this.rank(seq.dpRank).remove(seq);
    this.sequences.delete(requestId);
    seq.finishReason = "cancelled";
    return outputOf(seq, []);
  }

  /**
   * Runs one step on every rank; null when there is nothing to do. Ranks step in lockstep, so the step lasts as
   * long as its slowest rank. `nowMs` (Unix ms at the step's start) only stamps the load metrics.
   */
  step(nowMs = 0): StepResult | null {
    if (this.sequences.size === 0) return null;
    const batches: ScheduledBatch[] = this.ranks.map((rank) => rank.schedule());
    let durationMs = 0;
    batches.forEach((batch, r) => {
      durationMs = Math.max(durationMs, this.timer(this.rank(r).work(batch)));
    });
    const outputs = batches.flatMap((batch, r) => this.rank(r).complete(batch));
    for (const out of outputs) if (out.finishReason) this.sequences.delete(out.requestId);
    return {
      durationMs,
      outputs,
      kvEvents: this.events.drain(),
      loadMetrics: this.loadMetrics(nowMs + durationMs),
      preempted: batches.flatMap((batch) => batch.preempted.map((seq) => seq.requestId)),
    };
  }

  /** Load of each dp rank now; `nowMs` stamps timestampMs (0 when not given). */
  loadMetrics(nowMs = 0): LoadMetrics[] {
    return this.ranks.map((rank, dpRank) =>
      create(LoadMetricsSchema, {
        workerId: this.workerId,
        dpRank,
        activeKvBlocks: BigInt(rank.blocks.numActive),
        totalKvBlocks: BigInt(this.config.numGpuBlocks),
        numRequestsWaiting: rank.numWaiting,
        numRequestsRunning: rank.numRunning,
        prefillTokensInFlight: BigInt(rank.prefillTokensInFlight),
        timestampMs: BigInt(Math.max(0, Math.round(nowMs))),
      }),
    );
  }

  /** Cancels every request and empties every rank's prefix cache (one Cleared event per rank). */
  reset(): { outputs: StepOutput[]; kvEvents: KvEvent[] } {
    const outputs: StepOutput[] = [];
    this.ranks.forEach((rank, dpRank) => {
      for (const seq of rank.clear()) {
        seq.finishReason = "cancelled";
        outputs.push(outputOf(seq, []));
      }
      this.events.cleared(dpRank);
    });
    this.sequences.clear();
    return { outputs, kvEvents: this.events.drain() };
  }

  /** Sequence hashes cached on a rank (held or evictable). */
  cachedBlockHashes(dpRank = 0): bigint[] {
    return this.rank(dpRank).blocks.cachedHashes();
  }

  private rank(r: number): RankScheduler {
    const rank = this.ranks[r];
    if (!rank) throw new RangeError(`no dp rank ${r}`);
    return rank;
  }

  /** The requested rank, or the one with the fewest requests, then the fewest active blocks. */
  private pickRank(requested: number | undefined): number {
    if (this.ranks.length === 1) return 0;
    if (requested !== undefined) return requested;
    let best = 0;
    for (let r = 1; r < this.ranks.length; r++) {
      const a = this.rank(r);
      const b = this.rank(best);
      if (
        a.numRequests < b.numRequests ||
        (a.numRequests === b.numRequests && a.blocks.numActive < b.blocks.numActive)
      ) {
        best = r;
      }
    }
    return best;
  }
}
