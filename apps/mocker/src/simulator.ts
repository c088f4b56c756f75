// The engine simulator on the component host: the mocker engine core behind vLLM's or SGLang's HTTP API, its
// /metrics and its ZMQ KV events. It registers nothing in discovery (a real engine does not); workers reach it as
// they reach a real engine, by URL. Start-up mirrors the engines: vLLM listens only once the engine is loaded
// (--startup-delay-ms), SGLang listens at once and answers /health 503 until then. SIGTERM stops it: the HTTP
// server closes, running requests are aborted, the KV publishers close.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { serve } from "@hono/node-server";
import { openZmqKvPublisher, type ZmqKvPublisher } from "@kvasir/engine-wire";
import { type HostDeps, httpUrl, localHost, type Service, startComponent } from "@kvasir/runtime";
import { createLogger } from "@kvasir/telemetry";
import { Hono } from "hono";
import type { SimulatorConfig } from "./config.js";
import { EngineDriver } from "./engine-driver.js";
import { EngineMetrics } from "./metrics.js";
import { sglangApp } from "./sglang-api.js";
import { vllmApp } from "./vllm-api.js";

export interface EngineSimulator extends Service {
  /** Base URL of the engine's HTTP API (loopback for a wildcard bind). */
  readonly url: string;
  readonly port: number;
  /** KV event PUB and replay endpoints per dp rank (empty without --kv-events-config). */
  readonly kvEventEndpoints: string[];
  readonly kvReplayEndpoints: string[];
  /** The simulated engine core, for in-process tests. */
  readonly driver: EngineDriver;
}

async function listen(app: Hono, host: string, port: number): Promise<ReturnType<typeof serve>> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, () => resolve(server));
    server.once("error", reject);
  });
}

export async function start(config: SimulatorConfig, deps?: HostDeps): Promise<EngineSimulator> {
  const log = createLogger("mocker", { protocol: config.protocol });
  return startComponent(
    {
      component: config.protocol,
      runtime: {
        namespace: "dynamo",
        discovery: { backend: "memory" },
        eventPlane: { backend: "memory" },
        logLevel: "info",
      },
      log,
      ...(deps ? { deps } : {}),
    },
    async (host) => {
      if (config.ignored.length > 0) {
        log.info("accepted and ignored engine flags (GPU settings)", { flags: config.ignored });
      }
      let publisher: ZmqKvPublisher | undefined;
      const driver = new EngineDriver(config.engine, {
        kvEvents: (events) => publisher?.publish(events),
        load: (ranks) => metrics.update(ranks),
      });
      const engine = driver.engine.config;
      const metrics = new EngineMetrics({
        protocol: config.protocol,
        model: config.servedModelName,
        blockSize: engine.blockSize,
        numGpuBlocks: engine.numGpuBlocks,
        dataParallelSize: engine.dataParallelSize,
        enablePrefixCaching: engine.enablePrefixCaching,
      });
      host.onStop("engine", () => driver.close());
      if (config.kvEvents) {
        const opened = await openZmqKvPublisher(
          { ...config.kvEvents, layout: config.protocol },
          engine.dataParallelSize,
        );
        publisher = opened;
        host.onStop("kv events", () => opened.close());
      }
      const metricsText = async () => {
        metrics.syncTokens(driver.promptTokens, driver.generationTokens);
        return metrics.text();
      };
      const readyAt = performance.now() + config.startupDelayMs;
      const ready = () => performance.now() >= readyAt;
      const app =
        config.protocol === "vllm"
          ? vllmApp({
              config,
              driver,
              metricsText,
              log,
              engineId: randomUUID(),
              draining: () => host.draining,
            })
          : sglangApp({ config, driver, metricsText, log, ready, draining: () => host.draining });

      // vLLM's API server starts once the engine core is up; until then the port refuses connections.
      if (config.protocol === "vllm" && config.startupDelayMs > 0) {
        log.info("loading the simulated model", { delay_ms: config.startupDelayMs });
        await sleep(config.startupDelayMs);
      }
      const server = await listen(app, config.host, config.port);
      const closed = new Promise<void>((resolve) => server.once("close", () => resolve()));
      host.onStop("http server", async () => {
        server.close();
        // In-flight streams end now: their requests are aborted in the engine as the connections drop.
        driver.abortAll();
        if ("closeAllConnections" in server) server.closeAllConnections();
        await closed;
      });
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : config.port;
      const url = httpUrl(localHost(config.host), port);

      // SGLang's prefill server runs a bootstrap server that decode servers contact to find it.
      if (config.protocol === "sglang" && config.disaggregationMode === "prefill") {
        const bootstrap = new Hono();
        bootstrap.get("/health", (c) => c.text("OK"));
        const server = await listen(bootstrap, config.host, config.bootstrapPort);
        host.onStop("bootstrap server", () => new Promise<void>((resolve) => server.close(() => resolve())));
      }
      log.info("simulated engine ready", {
        url,
        model: config.servedModelName,
        kv_events: publisher?.endpoints ?? [],
        kv_replay: publisher?.replayEndpoints ?? [],
        ready_in_ms: Math.max(0, Math.round(readyAt - performance.now())),
      });
      return {
        url,
        port,
        kvEventEndpoints: publisher?.endpoints ?? [],
        kvReplayEndpoints: publisher?.replayEndpoints ?? [],
        driver,
        stop: () => host.stop(),
      };
    },
  );
}
