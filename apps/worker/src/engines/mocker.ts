// The mocker behind the Engine interface: @kvasir/mocker's MockEngine is a pure step machine (no clock); this
// shell runs its steps in simulated real time and fans each step's outputs out to per-request streams.
import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import {
  MockEngine,
  type MockerConfig,
  type EngineRequest as MockRequest,
  type StepOutput,
} from "@kvasir/mocker";
import type { KvEvent, LoadMetrics } from "@kvasir/protocol";
import { AsyncQueue } from "@kvasir/runtime";
import {
  type Engine,
  type EngineCapacity,
  type EngineListener,
  type EngineOutput,
  type EngineRequest,
  InvalidEngineRequest,
} from "../engine.js";

export interface MockerEngineOptions {
  /** Worker id stamped on KV events and load metrics. */
  workerId: bigint;
  /** A prefill engine returns transfer parameters on its last output, as vLLM's prefill side does. */
  prefill?: boolean;
}

function toMockRequest(request: EngineRequest): MockRequest {
  const { params } = request;
  return {
    requestId: request.requestId,
    tokenIds: request.tokenIds,
    maxTokens: params.maxTokens,
    minTokens: params.minTokens,
    stopTokenIds: params.stopTokenIds,
    ignoreEos: params.ignoreEos,
    ...(params.seed === undefined ? {} : { seed: params.seed }),
    priority: request.priority,
    ...(request.dpRank === undefined ? {} : { dpRank: request.dpRank }),
    ...(request.loraName ? { loraName: request.loraName } : {}),
    ...(request.cacheSalt ? { cacheSalt: request.cacheSalt } : {}),
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
    };
  }

  get activeRequests(): number {
    return this.streams.size;
  }

  generate(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineOutput> {
    const engine = this;
    return (async function* () {
      const mock = toMockRequest(request);
      if (engine.closed) throw new Error("the engine is shutting down");
      const invalid = engine.engine.validateRequest(mock);
      if (invalid !== undefined) throw new InvalidEngineRequest(invalid);
      if (signal.aborted) return;
      const queue = new AsyncQueue<Omit<StepOutput, "requestId">>();
      engine.streams.set(mock.requestId, queue);
      const onAbort = () => engine.abort(mock.requestId);
      signal.addEventListener("abort", onAbort, { once: true });
      engine.engine.addRequest(mock);
      engine.ensureRunning();
      try {
        for await (const output of queue) yield engine.toOutput(request, output);
      } finally {
        signal.removeEventListener("abort", onAbort);
        // Still registered means the consumer left before the engine finished the request.
        engine.abort(mock.requestId);
      }
    })();
  }

  /** Aborts a request the engine still runs; a no-op once its last output was delivered. */
  abort(requestId: string): void {
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
    for (const requestId of [...this.streams.keys()]) this.abort(requestId);
    await this.loop;
  }

  private toOutput(request: EngineRequest, output: Omit<StepOutput, "requestId">): EngineOutput {
    const { tokenIds, finishReason, promptTokens, completionTokens, cachedTokens } = output;
    return {
      tokenIds,
      ...(finishReason ? { finishReason } : {}),
      usage: { promptTokens, completionTokens, cachedTokens },
      ...(this.options.prefill && finishReason && finishReason !== "cancelled"
        ? { disaggParams: this.transferParams(request) }
        : {}),
    };
  }

  /**
   * What a decode worker would need from this prefill (vLLM's NixlConnector names). The mocker moves no KV data,
   * so these only identify the engine and the request.
   */
  private transferParams(request: EngineRequest): Record<string, unknown> {
    return {
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_engine_id: this.options.workerId.toString(16).padStart(16, "0"),
      remote_request_id: request.requestId,
      remote_num_tokens: request.tokenIds.length,
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
