import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import type { EngineRequest, MockEngine, StepOutput } from "@kvasir/mocker";
import type { KvEvent, LoadMetrics } from "@kvasir/protocol";
import { AsyncQueue } from "@kvasir/runtime";

export type RequestOutput = Omit<StepOutput, "requestId">;

export interface EngineSink {
  kvEvents(events: KvEvent[]): void;
  loadMetrics(metrics: LoadMetrics[]): void;
}

/**
 * Runs the mocker's steps in simulated real time and fans each step's outputs out to per-request streams.
 * Step durations accumulate on a virtual deadline, so sub-millisecond steps (high speedup ratios) keep their
 * aggregate pace instead of each rounding up to a timer tick.
 */
export class EngineDriver {
  private readonly streams = new Map<string, AsyncQueue<RequestOutput>>();
  private loop: Promise<void> | undefined;

  constructor(
    private readonly engine: MockEngine,
    private readonly sink: EngineSink,
  ) {}

  get activeRequests(): number {
    return this.streams.size;
  }

  /** Returns an error message when the engine would refuse the request. */
  validate(request: EngineRequest): string | undefined {
    return this.engine.validateRequest(request);
  }

  /** Streams the request's outputs; aborting `signal`, or leaving the stream early, frees its blocks at once. */
  generate(request: EngineRequest, signal: AbortSignal): AsyncIterable<RequestOutput> {
    const queue = new AsyncQueue<RequestOutput>();
    const { requestId } = request;
    if (this.streams.has(requestId)) {
      queue.end(new Error(`request id ${requestId} is already running`));
      return queue;
    }
    this.streams.set(requestId, queue);
    const onAbort = () => this.abort(requestId);
    signal.addEventListener("abort", onAbort, { once: true });
    this.engine.addRequest(request);
    this.ensureRunning();
    const driver = this;
    return (async function* () {
      try {
        yield* queue;
      } finally {
        signal.removeEventListener("abort", onAbort);
        // Still registered means the consumer left before the engine finished the request.
        driver.abort(requestId);
      }
    })();
  }

  /** Aborts a request the engine still runs; a no-op once its last output was delivered. */
  private abort(requestId: string): void {
    const queue = this.streams.get(requestId);
    if (!queue) return;
    this.streams.delete(requestId);
    queue.end();
    this.engine.abort(requestId);
    // Publish at once so routers see the freed blocks without waiting for the next step.
    this.publishLoadMetrics();
  }

  publishLoadMetrics(): void {
    this.sink.loadMetrics(this.engine.loadMetrics(Date.now()));
  }

  /** Resolves when no step is in progress (used when draining). */
  async idle(): Promise<void> {
    await this.loop;
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
      if (result.kvEvents.length > 0) this.sink.kvEvents(result.kvEvents);
      // Figures taken now, not the step's own: a request aborted during the wait has already freed its blocks.
      this.publishLoadMetrics();
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
