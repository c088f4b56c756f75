// The mocker behind the Engine interface: @kvasir/mocker's MockEngine is a pure step machine (no clock); this
// shell runs its steps in simulated real time and fans each step's outputs out to per-request streams.
import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import {
  guidedJson,
  MockEngine,
  type MockerConfig,
  type EngineRequest as MockRequest,
  mockEmbedding,
  requestSeed,
  type StepOutput,
} from "@kvasir/mocker";
import type { KvEvent, LoadMetrics } from "@kvasir/protocol";
import { AsyncQueue } from "@kvasir/runtime";
import type { KvExport, KvImport } from "../disagg/kv-transfer.js";
import { disaggRoleOf, type RemoteKv } from "../disagg/transfer-params.js";
import {
  type Engine,
  type EngineCapacity,
  type EngineListener,
  type EngineOutput,
  EngineOverloaded,
  type EngineRequest,
  InvalidEngineRequest,
} from "../engine.js";
import { mockerPerfProfile } from "./mocker-profile.js";
import type { ModelText } from "./model-text.js";

export interface MockerEngineOptions {
  /** Worker id stamped on KV events and load metrics. */
  workerId: bigint;
  /**
   * Disaggregated serving: a prefill engine exports the KV blocks of prompts asked with `do_remote_decode`, and
   * returns vLLM's transfer parameters on their last output; a decode engine imports the blocks of requests that
   * come with `do_remote_prefill`. Without it, requests run whole and disaggregation params are ignored.
   */
  kv?: { export?: KvExport; import?: KvImport };
  /** EOS ids and tokenizer of the served model: guided decoding tokenizes the JSON it picks. */
  text?: ModelText;
}

function toMockRequest(
  request: EngineRequest,
  externalComputedTokens = 0,
  guidedTokenIds?: number[],
): MockRequest {
  const { params } = request;
  return {
    requestId: request.requestId,
    tokenIds: request.tokenIds,
    // An embedding runs the prefill and one step, like a pooling model's forward pass.
    maxTokens: params.embedding ? 1 : params.maxTokens,
    ...(params.temperature === undefined ? {} : { temperature: params.temperature }),
    ...(params.logprobs === undefined ? {} : { logprobs: params.logprobs }),
    ...(guidedTokenIds ? { guidedTokenIds } : {}),
    minTokens: params.minTokens,
    stopTokenIds: params.stopTokenIds,
    ignoreEos: params.ignoreEos,
    ...(params.seed === undefined ? {} : { seed: params.seed }),
    priority: request.priority,
    ...(request.dpRank === undefined ? {} : { dpRank: request.dpRank }),
    ...(request.loraName ? { loraName: request.loraName } : {}),
    ...(request.cacheSalt ? { cacheSalt: request.cacheSalt } : {}),
    ...(externalComputedTokens > 0 ? { externalComputedTokens } : {}),
  };
}

/**
 * Simulated engine in simulated real time. Step durations accumulate on a virtual deadline, so sub-millisecond
 * steps (high speedup ratios) keep their aggregate pace instead of each rounding up to a timer tick.
 */
export class MockerEngine implements Engine {
  readonly capacity: EngineCapacity;
  private readonly engine: MockEngine;
  private readonly streams = new Map<string, AsyncQueue<Omit<StepOutput, "requestId">>>();
  /** Requests pulling their prompt's KV before they enter the engine; aborting one ends its pull. */
  private readonly pulling = new Map<string, AbortController>();
  private readonly listeners = new Set<EngineListener>();
  private loop: Promise<void> | undefined;
  private closed = false;

  constructor(
    config: Partial<MockerConfig>,
    private readonly options: MockerEngineOptions,
  ) {
    this.engine = new MockEngine(config, { workerId: options.workerId });
    const c = this.engine.config;
    this.capacity = {
      blockSize: c.blockSize,
      totalKvBlocks: c.numGpuBlocks,
      maxNumSeqs: c.maxNumSeqs,
      maxNumBatchedTokens: c.maxNumBatchedTokens,
      dataParallelSize: c.dataParallelSize,
      contextLength: c.maxModelLen,
      perfProfile: mockerPerfProfile(c),
    };
  }

  get activeRequests(): number {
    return this.streams.size + this.pulling.size;
  }

  generate(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineOutput> {
    return this.stream(request, signal);
  }

  // A method, not a generator function made per call: each of those gets a map in the old generation pointing back
  // at it, which kept every request's closure (its 8,000-id prompt included) alive until a full GC.
  private async *stream(request: EngineRequest, signal: AbortSignal): AsyncGenerator<EngineOutput> {
    const role = disaggRoleOf(request.disaggParams);
    const kvImport = this.options.kv?.import;
    // A request that ends before its pull still lets the prefill worker free the blocks it holds for it.
    const abandon = () => {
      if (kvImport && role.kind === "pull") kvImport.abandon(role.remote);
    };
    if (this.closed) {
      abandon();
      throw new Error("the engine is shutting down");
    }
    const invalid = this.engine.validateRequest(toMockRequest(request));
    if (invalid !== undefined) {
      abandon();
      throw new InvalidEngineRequest(invalid);
    }
    if (signal.aborted) return abandon();
    let guided: number[] | undefined;
    if (request.params.structuredOutputs && !request.params.embedding) {
      try {
        guided = await this.guidedTokens(request);
      } catch (error) {
        abandon();
        throw error instanceof InvalidEngineRequest ? error : new InvalidEngineRequest(String(error));
      }
    }
    let imported = 0;
    if (kvImport && (role.kind === "pull" || role.kind === "recompute")) {
      imported = await this.importPrompt(
        kvImport,
        request,
        role.kind === "pull" ? role.remote : role.why,
        signal,
      );
      if (imported < 0) return;
    }
    const exportKv = role.kind === "hold" ? this.options.kv?.export : undefined;
    // Room for the blocks is set aside before the prefill runs, so a full worker wastes no compute on it.
    if (exportKv && !exportKv.reserve(request)) {
      throw new EngineOverloaded(
        "this prefill worker holds as much KV for decode workers as it may (--kv-transfer-max-held-mb)",
      );
    }
    const mock = toMockRequest(request, imported, guided);
    const queue = new AsyncQueue<Omit<StepOutput, "requestId">>();
    this.streams.set(mock.requestId, queue);
    const onAbort = () => this.abort(mock.requestId);
    signal.addEventListener("abort", onAbort, { once: true });
    this.engine.addRequest(mock);
    this.ensureRunning();
    try {
      for await (const output of queue) yield this.toOutput(request, output, exportKv);
    } finally {
      signal.removeEventListener("abort", onAbort);
      // Still registered means the consumer left before the engine finished the request.
      this.abort(mock.requestId);
      // A no-op once the blocks are held; else the prefill ended without them.
      exportKv?.unreserve(request.requestId);
    }
  }

  /** The token ids of a JSON value valid against the request's constraint, picked from the request's seed. */
  private async guidedTokens(request: EngineRequest): Promise<number[]> {
    const constraint = request.params.structuredOutputs;
    if (!constraint) return [];
    if (!this.options.text)
      throw new InvalidEngineRequest("this worker has no tokenizer for guided decoding");
    const seed = requestSeed(request.requestId, request.params.seed, this.engine.config.seed);
    let text: string;
    try {
      text = guidedJson(constraint, seed);
    } catch (error) {
      throw new InvalidEngineRequest(
        `cannot produce JSON for this schema: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const tokenizer = await this.options.text.tokenizer();
    const tokens = tokenizer.encode(text, { addSpecialTokens: false });
    // A migrated request's prompt ends with the part of the value its first worker sent (the value depends only
    // on the request's seed, so it is the same here): only the rest is still to come.
    const prompt = request.tokenIds;
    for (let k = Math.min(tokens.length, prompt.length - 1); k > 0; k--) {
      let sent = true;
      for (let i = 0; i < k && sent; i++) sent = prompt[prompt.length - k + i] === tokens[i];
      if (sent) return tokens.slice(k);
    }
    return tokens;
  }

  /** Aborts a request the engine still runs (or pulls KV for); a no-op once its last output was delivered. */
  abort(requestId: string): void {
    this.pulling.get(requestId)?.abort();
    const queue = this.streams.get(requestId);
    if (!queue) return;
    this.streams.delete(requestId);
    queue.end();
    this.engine.abort(requestId);
    // Tell routers at once that the blocks are free, without waiting for the next step.
    this.emitLoadMetrics();
  }

  subscribe(listener: EngineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  loadMetrics(): LoadMetrics[] {
    return this.engine.loadMetrics(Date.now());
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const requestId of [...this.streams.keys(), ...this.pulling.keys()]) this.abort(requestId);
    await this.loop;
  }

  /**
   * Pulls the prompt's KV before the request enters the engine: the imported tokens, or -1 when the request was
   * aborted (or the engine closed) meanwhile. A failed pull imports nothing, so the prefill runs here.
   */
  private async importPrompt(
    kvImport: KvImport,
    request: EngineRequest,
    remote: RemoteKv | string,
    signal: AbortSignal,
  ): Promise<number> {
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.pulling.set(request.requestId, controller);
    try {
      const imported = await kvImport.importPrompt(request, remote, controller.signal);
      return controller.signal.aborted || this.closed ? -1 : imported;
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.pulling.delete(request.requestId);
    }
  }

  private toOutput(
    request: EngineRequest,
    output: Omit<StepOutput, "requestId">,
    exportKv: KvExport | undefined,
  ): EngineOutput {
    const { tokenIds, finishReason, promptTokens, completionTokens, cachedTokens, logprobs } = output;
    const embedding = request.params.embedding;
    if (embedding) {
      const dimensions = embedding.dimensions || this.engine.config.embeddingDimensions;
      return {
        tokenIds: [],
        ...(finishReason ? { finishReason } : {}),
        usage: { promptTokens, completionTokens: 0, cachedTokens },
        ...(finishReason === "stop" || finishReason === "length"
          ? { embedding: mockEmbedding(request.tokenIds, dimensions) }
          : {}),
      };
    }
    return {
      tokenIds,
      ...(finishReason ? { finishReason } : {}),
      usage: { promptTokens, completionTokens, cachedTokens },
      ...(logprobs ? { logprobs } : {}),
      // The prompt's KV is complete once the request finishes; vLLM's prefill side holds it from then on.
      ...(exportKv && finishReason && finishReason !== "cancelled"
        ? { disaggParams: exportKv.exportPrompt(request) }
        : {}),
    };
  }

  private emitKvEvents(batch: KvEvent[]): void {
    for (const listener of this.listeners) listener.kvEvents(batch);
  }

  private emitLoadMetrics(): void {
    if (this.listeners.size === 0) return;
    const ranks = this.loadMetrics();
    for (const listener of this.listeners) listener.loadMetrics(ranks);
  }

  private ensureRunning(): void {
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
    });
  }

  private async run(): Promise<void> {
    let deadline = performance.now();
    for (;;) {
      const result = this.engine.step(Date.now());
      if (!result) return;
      deadline += result.durationMs;
      const wait = deadline - performance.now();
      if (wait >= 1) await sleep(wait);
      else await yieldToLoop();
      // Behind schedule (a busy event loop): restart the clock rather than burst to catch up.
      if (performance.now() - deadline > 50) deadline = performance.now();
      if (result.kvEvents.length > 0) this.emitKvEvents(result.kvEvents);
      // Figures taken now, not the step's own: a request aborted during the wait has already freed its blocks.
      this.emitLoadMetrics();
      for (const { requestId, ...output } of result.outputs) {
        const queue = this.streams.get(requestId);
        if (!queue) continue;
        queue.push(output);
        if (output.finishReason) {
          this.streams.delete(requestId);
          queue.end();
        }
      }
    }
  }
}
