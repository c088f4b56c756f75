import { readFileSync } from "node:fs";
import { createServer as createHttpsServer, type ServerOptions } from "node:https";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { WorkerService } from "@kvasir/protocol";
import {
  createClient,
  type HostDeps,
  httpUrl,
  localHost,
  type ServerTls,
  type Service,
  startComponent,
} from "@kvasir/runtime";
import { createRouting, followRemoteIndexer, openWorkerPools, servingPipeline } from "@kvasir/serving";
import {
  createLogger,
  createMetricsRegistry,
  flushTracing,
  hierarchyLabels,
  initTracing,
  metricsText,
  registerSamples,
  setLogLevel,
  traceClientInterceptor,
} from "@kvasir/telemetry";
import { createApp } from "./app.js";
import type { FrontendConfig } from "./config.js";
import { InFlight } from "./inflight.js";
import { kvRoutingConfigFromFlags } from "./kv-routing.js";
import { modelDirResolver } from "./model-files.js";
import { ModelRegistry } from "./model-registry.js";
import { loadPreprocessor, type Preprocessor, preprocessorLoader } from "./preprocessor.js";
import { TokenizerPool } from "./tokenizer-pool.js";

export interface Frontend extends Service {
  /** The HTTP API from this host (loopback for a wildcard bind). */
  readonly url: string;
  /** The HTTP API as registered in discovery for other hosts. */
  readonly advertisedUrl: string;
  readonly port: number;
}

function httpsOptions(tls: ServerTls): ServerOptions {
  return {
    cert: readFileSync(tls.certPath),
    key: readFileSync(tls.keyPath),
    ...(tls.clientCaPath
      ? { ca: readFileSync(tls.clientCaPath), requestCert: true, rejectUnauthorized: true }
      : {}),
  };
}

/** Attempts on other workers when one fails before the first token. */
const RETRY_LIMIT = 3;

/**
 * Starts the frontend on the component host: follows the worker pools in discovery and their load on the event
 * plane, and serves the OpenAI and Anthropic APIs over HTTP. `stop()` stops accepting, lets in-flight streams
 * finish, then closes routing, pools and planes.
 */
export function start(config: FrontendConfig, deps?: HostDeps): Promise<Frontend> {
  setLogLevel(config.runtime.logLevel);
  initTracing({ serviceName: "kvasir-frontend" });
  const log = createLogger("frontend");
  return startComponent(
    {
      component: "frontend",
      runtime: config.runtime,
      log,
      flush: flushTracing,
      ...(config.advertiseHost ? { advertiseHost: config.advertiseHost } : {}),
      ...(deps ? { deps } : {}),
    },
    async (host) => {
      const { namespace } = host;
      const registry = createMetricsRegistry(hierarchyLabels({ namespace, component: "frontend" }));
      // The discovery counters on the HTTP port's /metrics too, where Dynamo's frontend serves its metrics.
      registerSamples(registry, () => host.planeStatus.samples());
      const inFlight = new InFlight();
      await host.serveStatus({
        host: config.httpHost,
        port: config.systemPort,
        health: () => ({ in_flight: inFlight.size }),
        metrics: () => metricsText(registry),
      });
      const pools = await openWorkerPools(host.discovery, {
        namespace,
        events: host.events,
        log,
      });
      host.onStop("worker pools", () => pools.close());
      const kv = config.kvRouting ?? kvRoutingConfigFromFlags({});
      const remoteIndexer =
        kv.settings.useRemoteIndexer && !(config.routerMode === "kv" && kv.useRemoteRouter)
          ? await followRemoteIndexer(host.discovery, namespace, host.clientOptions, { log, registry })
          : undefined;
      if (remoteIndexer) host.onStop("remote indexer", () => remoteIndexer.stop());
      const routing = await createRouting(
        host,
        pools,
        {
          mode: config.routerMode,
          kv: kv.settings,
          useRemoteRouter: kv.useRemoteRouter,
          maxLocalPrefillLength: config.maxLocalPrefillLength,
          bookingLeaseMs: config.requestTimeoutSeconds * 1000,
          onExpired: (ids) => log.warn("router bookings expired without a free", { bookings: ids.length }),
          ...(config.blockSize !== undefined ? { blockSize: config.blockSize } : {}),
          ...(remoteIndexer ? { remoteIndexer } : {}),
        },
        log,
      );
      host.onStop("routing", () => routing.close());

      const clientOptions = { ...host.clientOptions, interceptors: [traceClientInterceptor()] };
      const generate = servingPipeline(
        routing,
        (address) => createClient(WorkerService, address, clientOptions),
        {
          migrationLimit: config.migrationLimit,
          retryLimit: RETRY_LIMIT,
          busyThresholds: config.busyThresholds,
        },
      );
      // Large prompts are templated and tokenized on these threads, so streams and /health never wait on them.
      // --tokenizer-threads 0: none, every prompt is tokenized on the event loop.
      const tokenizers =
        config.tokenizerThreads === 0
          ? undefined
          : new TokenizerPool({
              processes: config.numProcesses ?? 1,
              ...(config.tokenizerThreads !== undefined ? { threads: config.tokenizerThreads } : {}),
            });
      if (tokenizers) host.onStop("tokenizer pool", () => tokenizers.close());
      registerSamples(registry, () => [
        {
          name: "kvasir_frontend_tokenizer_pool_tasks",
          type: "gauge",
          help: "Large prompts being templated and tokenized on the frontend's tokenizer threads, or waiting for one",
          value: tokenizers?.pending ?? 0,
        },
      ]);
      const models = new ModelRegistry<Preprocessor>({
        pools: [pools.backend, pools.decode, pools.prefill],
        ...(config.modelPath ? { modelPath: config.modelPath } : {}),
        localDir: modelDirResolver({
          ...(config.modelExpressUrl ? { expressUrl: config.modelExpressUrl } : {}),
          log,
        }),
        load: tokenizers ? preprocessorLoader(tokenizers) : loadPreprocessor,
      });
      const app = createApp({
        models,
        generate,
        metrics: registry,
        log,
        config,
        inFlight,
        ...(config.apiKeys ? { apiKeys: config.apiKeys } : {}),
      });
      const tls = config.runtime.connect?.tls;
      host.warnIfOpen(config.httpHost, "HTTP", tls !== undefined, config.apiKeys !== undefined);

      const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
        const s = serve(
          {
            fetch: app.fetch,
            hostname: config.httpHost,
            port: config.httpPort,
            // --tls-cert-path/--tls-key-path: HTTPS, as Dynamo's frontend (and client certificates with a client CA).
            ...(tls ? { createServer: createHttpsServer, serverOptions: httpsOptions(tls) } : {}),
          },
          () => resolve(s),
        );
        s.once("error", reject);
      });
      const closed = new Promise<void>((resolve) => server.once("close", () => resolve()));
      host.onStop("http server", async () => {
        server.close();
        log.info("draining", { in_flight: inFlight.size });
        await inFlight.drained(config.drainTimeoutSeconds * 1000);
        if ("closeAllConnections" in server) server.closeAllConnections();
        await closed;
      });
      const port = (server.address() as AddressInfo).port;
      const scheme = tls ? "https" : "http";
      const url = httpUrl(localHost(config.httpHost), port, scheme);
      const advertisedUrl = httpUrl(host.advertise(config.httpHost), port, scheme);
      // Registered so planners and scrapers find every frontend's /metrics the way they find workers.
      await host.registerInstance("http", {
        address: advertisedUrl,
        transport: "http",
        metadata: { metrics_path: "/metrics" },
      });
      log.info("frontend ready", {
        url,
        advertised_url: advertisedUrl,
        router_mode: config.routerMode,
        namespace,
      });
      return { url, advertisedUrl, port, stop: () => host.stop() };
    },
  );
}
