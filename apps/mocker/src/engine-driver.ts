// Runs @kvasir/mocker's MockEngine (a pure step machine) in simulated real time, as the engine core behind the
// simulated HTTP server: one loop steps the engine, waits each step's duration, then delivers the step's outputs
// to per-request streams, its KV events to the publisher and refreshes the load gauges.
import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import type { WireTokenLogprob } from "@kvasir/engine-wire";
import { type EngineRequest, MockEngine, type MockerConfigInput, type StepOutput } from "@kvasir/mocker";
import type { KvEvent, LoadMetrics } from "@kvasir/protocol";
import { AsyncQueue } from "@kvasir/runtime";

export type RequestOutput = Omit<StepOutput, "requestId">;

/**
 * A non-streamed answer: every output of a request, its token ids and their logprobs (when asked) joined, the last
 * output kept (its finish reason and usage). The client's leaving (`signal`) aborts the request (`controller`).
 * Undefined when no output came.
 */
export async function collectOutputs(
  outputs: AsyncIterable<RequestOutput>,
  signal: AbortSignal,
  controller: AbortController,
): Promise<{ tokenIds: number[]; logprobs: WireTokenLogprob[]; last: RequestOutput } | undefined> {
  signal.addEventListener("abort", () => controller.abort(), { once: true });
  const tokenIds: number[] = [];
  const logprobs: WireTokenLogprob[] = [];
  let last: RequestOutput | undefined;
  for await (const output of outputs) {
    tokenIds.push(...output.tokenIds);
    logprobs.push(...wireLogprobs(output));
    last = output;
  }
  return last ? { tokenIds, logprobs, last } : undefined;
}

/** An output's logprobs with the token each is for, as the engines' wire shapes need (empty when not asked). */
export function wireLogprobs(output: RequestOutput): WireTokenLogprob[] {
  const { logprobs } = output;
  if (!logprobs) return [];
  return output.tokenIds.flatMap((tokenId, i) => {
    const entry = logprobs[i];
    return entry ? [{ tokenId, logprob: entry.logprob, top: entry.top }] : [];
  });
}

export interface EngineDriverListener {
  kvEvents(events: KvEvent[]): void;
  /** After every step and every abort. */
  load(ranks: LoadMetrics[]): void;
}

export class EngineDriver {
  readonly engine: MockEngine;
  private readonly streams = new Map<string, AsyncQueue<RequestOutput>>();
  private loop: Promise<void> | undefined;
  private closed = false;
  /** Totals for the engines' token counters. */
  promptTokens = 0;
  generationTokens = 0;

  constructor(
    config: MockerConfigInput,
    private readonly listener: EngineDriverListener,
  ) {
    this.engine = new MockEngine(config);
  }

  /** The request's problem in the engine's words, or undefined when it can run. */
  validate(request: EngineRequest): string | undefined {
    if (this.streams.has(request.requestId)) return `request id ${request.requestId} is already running`;
    return this.engine.validateRequest(request);
  }

  /**
   * Runs a request; its outputs arrive step by step. Aborting `signal` (the client went away) or leaving the loop
   * early removes it from the engine at once, so the running count drops without waiting for a step.
   */
  generate(request: EngineRequest, signal: AbortSignal): AsyncIterable<RequestOutput> {
    return this.stream(request, signal);
  }

  // A method rather than a generator function made per call (see the worker's MockerEngine.stream).
  private async *stream(request: EngineRequest, signal: AbortSignal): AsyncGenerator<RequestOutput> {
    if (this.closed) throw new Error("the engine is shutting down");
    const queue = new AsyncQueue<RequestOutput>();
    this.streams.set(request.requestId, queue);
    const onAbort = () => this.abort(request.requestId);
    signal.addEventListener("abort", onAbort, { once: true });
    this.engine.addRequest(request);
    this.promptTokens += request.tokenIds.length;
    this.ensureRunning();
    try {
      if (signal.aborted) return;
      for await (const output of queue) yield output;
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.abort(request.requestId);
    }
  }

  /**
   * Aborts a running or waiting request; a no-op once it finished. True when there was one. With `notify` its
   * stream gets a last output with finishReason "cancelled" (an abort by API, which the client is told of).
   */
  abort(requestId: string, notify = false): boolean {
    const queue = this.streams.get(requestId);
    if (!queue) return false;
    this.streams.delete(requestId);
    const last = this.engine.abort(requestId);
    if (notify && last) {
      const { requestId: _, ...output } = last;
      queue.push(output);
    }
    queue.end();
    this.listener.load(this.loadMetrics());
    return true;
  }

  abortAll(notify = false): void {
    for (const id of [...this.streams.keys()]) this.abort(id, notify);
  }

  /**
   * Drops every cached prefix (the engine's /reset_prefix_cache or /flush_cache): one Cleared KV event per rank.
   * Refused while requests run, as both engines refuse to flush blocks in use.
   */
  resetPrefixCache(): boolean {
    if (this.streams.size > 0) return false;
    const { kvEvents } = this.engine.reset();
    if (kvEvents.length > 0) this.listener.kvEvents(kvEvents);
    this.listener.load(this.loadMetrics());
    return true;
  }

  get requestIds(): string[] {
    return [...this.streams.keys()];
  }

  loadMetrics(): LoadMetrics[] {
    return this.engine.loadMetrics(Date.now());
  }

  async close(): Promise<void> {
    this.closed = true;
    this.abortAll();
    await this.loop;
  }

  private ensureRunning(): void {
    this.loop ??= this.run().finally(() => {
      this.loop = undefined;
    });
  }

  private async run(): Promise<void> {
    // Durations accumulate on a virtual deadline so sub-millisecond steps keep their aggregate pace.
    let deadline = performance.now();
    for (;;) {
      const result = this.engine.step(Date.now());
      if (!result) return;
      deadline += result.durationMs;
      const wait = deadline - performance.now();
      if (wait >= 1) await sleep(wait);
      else await yieldToLoop();
      if (performance.now() - deadline > 50) deadline = performance.now();
      if (result.kvEvents.length > 0) this.listener.kvEvents(result.kvEvents);
      for (const { requestId, ...output } of result.outputs) {
        const queue = this.streams.get(requestId);
        if (!queue) continue;
        this.generationTokens += output.tokenIds.length;
        queue.push(output);
        if (output.finishReason) {
          this.streams.delete(requestId);
          queue.end();
        }
      }
      this.listener.load(this.loadMetrics());
    }
  }
}
