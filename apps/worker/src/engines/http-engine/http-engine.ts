// A real engine (vLLM, SGLang) behind the worker's Engine interface: the supervised process (or an attached
// server), generation over its HTTP API, its ZMQ KV events relayed, its /metrics scraped as load. What differs
// between engines is the HttpProtocol.
import { EngineEventRelay, ZmqKvStream, type ZmqStreamHandler } from "@kvasir/engine-wire";
import type { LoadMetrics } from "@kvasir/protocol";
import { injectTraceContext, type Logger } from "@kvasir/telemetry";
import type { Engine, EngineCapacity, EngineListener, EngineOutput, EngineRequest } from "../../engine.js";
import { EngineHttpClient } from "./http-client.js";
import { type KvEventStreams, kvEventStreams } from "./kv-events-config.js";
import type { LaunchPlan } from "./launch.js";
import { LoadScraper } from "./load-scraper.js";
import { checkSupported, type EngineSettings, type HttpProtocol } from "./protocol.js";
import { EngineSupervisor, type RestartOptions } from "./supervisor.js";

export interface HttpEngineOptions {
  protocol: HttpProtocol;
  workerId: bigint;
  log: Logger;
  /** A command to run (from `--engine-command`), or an engine to attach to (`--engine-url`). */
  target:
    | { kind: "spawn"; plan: LaunchPlan }
    | { kind: "attach"; url: string; settings: EngineSettings; kvEventsConfig?: Record<string, unknown> };
  /** The host decode workers and other peers reach this engine's host on. */
  advertiseHost: string;
  readyTimeoutMs: number;
  restart: RestartOptions;
  metricsIntervalMs: number;
  killGraceMs: number;
  replayTimeoutMs: number;
}

/** Starts (or attaches to) the engine, waits until it is ready and reads its capacity. */
export async function startHttpEngine(options: HttpEngineOptions): Promise<HttpEngine> {
  const engine = new HttpEngine(options);
  try {
    await engine.start();
  } catch (error) {
    await engine.close();
    throw error;
  }
  return engine;
}

export class HttpEngine implements Engine {
  private capacityValue: EngineCapacity | undefined;
  private servedModel = "";
  private readonly client: EngineHttpClient;
  private readonly supervisor: EngineSupervisor;
  private readonly settings: EngineSettings;
  private readonly kvEventsConfig: Record<string, unknown> | undefined;
  private readonly inFlight = new Map<string, AbortController>();
  private readonly listeners = new Set<EngineListener>();
  private readonly streams: ZmqKvStream[] = [];
  /** One per dp rank: what announces a cleared cache on that rank's behalf. */
  private readonly relayHandlers: ZmqStreamHandler[] = [];
  private scraper: LoadScraper | undefined;
  private available = false;
  private closed = false;

  constructor(private readonly options: HttpEngineOptions) {
    const { target, protocol, log } = options;
    this.settings = target.kind === "spawn" ? target.plan.settings : target.settings;
    const { apiKey } = this.settings;
    this.client = new EngineHttpClient(
      target.kind === "spawn" ? target.plan.url : target.url,
      apiKey ? { authorization: `Bearer ${apiKey}` } : {},
    );
    this.kvEventsConfig = target.kind === "spawn" ? target.plan.kvEventsConfig : target.kvEventsConfig;
    this.supervisor = new EngineSupervisor({
      ...(target.kind === "spawn" ? { command: { argv: target.plan.argv, env: target.plan.env } } : {}),
      client: this.client,
      healthPath: protocol.healthPath,
      name: protocol.name,
      log,
      readyTimeoutMs: options.readyTimeoutMs,
      restart: options.restart,
      killGraceMs: options.killGraceMs,
      healthIntervalMs: Math.max(options.metricsIntervalMs, 1000),
      events: {
        down: (reason) => this.setAvailable(false, reason, false),
        up: () => this.setAvailable(true, "the engine is ready again", false),
        failed: (reason) => this.setAvailable(false, reason, true),
      },
    });
  }

  get capacity(): EngineCapacity {
    if (!this.capacityValue) throw new Error("the engine has not started");
    return this.capacityValue;
  }

  get activeRequests(): number {
    return this.inFlight.size;
  }

  /** The engine's base URL. */
  get url(): string {
    return this.client.url.href;
  }

  async start(): Promise<void> {
    const { protocol, log } = this.options;
    await this.supervisor.start();
    const description = await protocol.describe(this.client, this.settings);
    this.capacityValue = description.capacity;
    this.servedModel = description.servedModel;
    this.available = true;
    log.info("engine described", {
      engine: protocol.name,
      url: this.client.url.href,
      served_model: description.servedModel,
      ...description.capacity,
    });
    await this.openKvStreams();
    this.scraper = new LoadScraper({
      protocol: protocol.name,
      client: this.client,
      path: protocol.metricsPath,
      workerId: this.options.workerId,
      dataParallelSize: description.capacity.dataParallelSize,
      totalKvBlocks: description.capacity.totalKvBlocks,
      intervalMs: this.options.metricsIntervalMs,
      log,
      changed: (ranks) => {
        for (const listener of this.listeners) listener.loadMetrics(ranks);
      },
    });
    this.scraper.start();
  }

  /** Subscribes to the engine's KV event publisher(s), replaying what they still buffer. */
  private async openKvStreams(): Promise<void> {
    const { log, protocol, workerId, replayTimeoutMs } = this.options;
    const streams: KvEventStreams | undefined = this.kvEventsConfig
      ? kvEventStreams(
          protocol.name,
          this.kvEventsConfig,
          this.client.url.hostname.replace(/^\[|\]$/g, ""),
          this.settings.dataParallelSize,
        )
      : undefined;
    if (!streams) {
      log.warn("the engine publishes no KV events: KV routing sees this worker's cache only by prediction", {
        engine: protocol.name,
      });
      return;
    }
    const relay = new EngineEventRelay({
      workerId,
      emit: (events) => {
        for (const listener of this.listeners) listener.kvEvents(events);
      },
      dropped: (reason, count) => log.warn("engine kv events dropped", { reason, count }),
    });
    for (const [rank, endpoint] of streams.endpoints.entries()) {
      const replayEndpoint = streams.replayEndpoints?.[rank];
      const handler = relay.handler(rank);
      this.relayHandlers.push(handler);
      const stream = new ZmqKvStream(
        { endpoint, ...(replayEndpoint ? { replayEndpoint } : {}), topic: streams.topic, replayTimeoutMs },
        handler,
        log,
      );
      this.streams.push(stream);
      await stream.start();
    }
    log.info("relaying engine kv events", {
      endpoints: streams.endpoints,
      replay: streams.replayEndpoints ?? [],
    });
  }

  private setAvailable(available: boolean, reason: string, final: boolean): void {
    this.available = available;
    const { log, protocol } = this.options;
    if (available) log.info("engine available", { engine: protocol.name, reason });
    else log.error(final ? "engine failed for good" : "engine down", { engine: protocol.name, reason });
    // Requests in flight fail with the engine's connection; nothing else to do for them here.
    for (const listener of this.listeners) listener.availability?.(available, reason, final);
  }

  generate(request: EngineRequest, signal: AbortSignal): AsyncIterable<EngineOutput> {
    return this.stream(request, signal);
  }

  // A method, not a generator function made per call: each of those gets a map in the old generation pointing back
  // at it, which kept every request's closure (its 8,000-id prompt included) alive until a full GC.
  private async *stream(request: EngineRequest, signal: AbortSignal): AsyncGenerator<EngineOutput> {
    if (this.closed) throw new Error("the engine is shutting down");
    if (!this.available) throw new Error("the engine is not running");
    checkSupported(request.params, this.options.protocol.name);
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.inFlight.set(request.requestId, controller);
    let finished = false;
    try {
      if (signal.aborted) return;
      const context = {
        client: this.client,
        servedModel: this.servedModel,
        settings: this.settings,
        advertiseHost: this.options.advertiseHost,
        headers: request.trace ? injectTraceContext({}, request.trace) : {},
      };
      for await (const output of this.options.protocol.generate(request, controller.signal, context)) {
        if (output.finishReason) finished = true;
        yield output;
        if (finished) return;
      }
    } catch (error) {
      // The consumer has gone, or abort() asked for it: the stream fails on purpose.
      if (signal.aborted) return;
      // Cut off by the worker's stop: an error, so that the caller moves the request to another worker.
      if (this.closed) throw new Error("the engine is shutting down");
      if (controller.signal.aborted) return;
      throw error;
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.inFlight.delete(request.requestId);
      if (!finished) {
        // The HTTP stream closes with the iteration; SGLang also wants to be told.
        controller.abort();
        void this.options.protocol.abort?.(this.client, request.requestId);
      }
    }
  }

  abort(requestId: string): void {
    this.inFlight.get(requestId)?.abort();
  }

  subscribe(listener: EngineListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  loadMetrics(): LoadMetrics[] {
    return this.scraper?.current ?? [];
  }

  metricsText(): string {
    return this.scraper?.lastText ?? "";
  }

  /** The engine's process, when this worker started it. */
  get pid(): number | undefined {
    return this.supervisor.pid;
  }

  /** What another worker needs to attach to this engine (recorded with a checkpoint of it). */
  attachment(): Record<string, string> {
    return {
      protocol: this.options.protocol.name,
      url: this.url,
      settings: JSON.stringify(this.settings),
      ...(this.kvEventsConfig ? { kv_events_config: JSON.stringify(this.kvEventsConfig) } : {}),
    };
  }

  /** Stops watching, scraping and relaying without stopping the process: it is about to be checkpointed. */
  async quiesce(): Promise<void> {
    this.supervisor.quiesce();
    this.scraper?.close();
    await Promise.all(this.streams.map((stream) => stream.close()));
  }

  /**
   * A restored engine's cached blocks are unknown to every router: the engine drops its prefix cache and the
   * worker announces every rank's cache as cleared. Returns false when the engine has no reset endpoint (vLLM
   * serves /reset_prefix_cache only with VLLM_SERVER_DEV_MODE=1).
   */
  async announceEmptyCache(): Promise<boolean> {
    const { protocol, log } = this.options;
    let reset = true;
    try {
      await this.client.text(protocol.resetPrefixCachePath, { method: "POST", timeoutMs: 30_000 });
    } catch (error) {
      reset = false;
      log.warn("the engine did not drop its prefix cache; routers still see this worker's cache as empty", {
        engine: protocol.name,
        path: protocol.resetPrefixCachePath,
        error: error instanceof Error ? error.message : String(error),
      });
    }
    for (const handler of this.relayHandlers) handler.restart();
    return reset;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const controller of this.inFlight.values()) controller.abort();
    this.scraper?.close();
    await Promise.all(this.streams.map((stream) => stream.close()));
    await this.supervisor.stop();
    this.client.close();
  }
}
