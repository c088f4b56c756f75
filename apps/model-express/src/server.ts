// `kvasir model-express` on the component host: the status server, the cache, the peer directory (discovery),
// the Connect service, and its instance record; stop deregisters, drains transfers and closes in reverse.
import { type ModelSource, openSource } from "@kvasir/model-files";
import { type HostDeps, type RuntimeConfig, type Service, startComponent } from "@kvasir/runtime";
import {
  createLogger,
  createMetricsRegistry,
  flushTracing,
  hierarchyLabels,
  initTracing,
  metricsText,
  setLogLevel,
  traceServerInterceptor,
} from "@kvasir/telemetry";
import { createModelExpressMetrics } from "./metrics.js";
import { ModelCache } from "./model-cache.js";
import { PeerDirectory } from "./peer-directory.js";
import { modelExpressRoutes } from "./service.js";

export const MODEL_EXPRESS_COMPONENT = "model-express";

export interface ModelExpressConfig {
  runtime: RuntimeConfig;
  host: string;
  port: number;
  cacheDir: string;
  /** `--source`: a directory, a hub URL or s3://bucket/prefix. */
  source: string;
  chunkSize: number;
  cacheLimitBytes?: number;
  systemPort?: number;
  advertiseHost?: string;
  drainTimeoutSeconds: number;
  /** Variables for the source (HF_TOKEN, AWS_*); process.env when absent. */
  env?: Record<string, string | undefined>;
}

export interface ModelExpress extends Service {
  /** The advertised URL workers give as `--model-express-url`. */
  readonly url: string;
  readonly localUrl: string;
  /** The status server (/health, /metrics) on this host, when `--system-port` is given. */
  readonly statusUrl?: string;
}

export async function start(config: ModelExpressConfig, deps?: HostDeps): Promise<ModelExpress> {
  setLogLevel(config.runtime.logLevel);
  initTracing({ serviceName: "kvasir-model-express", asyncContext: true });
  const log = createLogger("model-express");
  const source: ModelSource = openSource(config.source, config.env ?? process.env);
  return startComponent(
    {
      component: MODEL_EXPRESS_COMPONENT,
      runtime: config.runtime,
      log,
      flush: flushTracing,
      ...(config.advertiseHost ? { advertiseHost: config.advertiseHost } : {}),
      ...(deps ? { deps } : {}),
    },
    async (host) => {
      const registry = createMetricsRegistry(
        hierarchyLabels({ namespace: host.namespace, component: MODEL_EXPRESS_COMPONENT }),
      );
      const metrics = createModelExpressMetrics(registry);
      const status = await host.serveStatus({
        host: config.host,
        port: config.systemPort,
        health: () => ({ cache_dir: config.cacheDir, source: source.description }),
        metrics: () => metricsText(registry),
      });
      const cache = new ModelCache({
        cacheDir: config.cacheDir,
        source,
        chunkSize: config.chunkSize,
        ...(config.cacheLimitBytes === undefined ? {} : { limitBytes: config.cacheLimitBytes }),
        log,
        metrics,
        ...(config.env ? { env: config.env } : {}),
      });
      await cache.load();
      const peers = new PeerDirectory(host.discovery, host.namespace, (n) => metrics.peers.set(n));
      await peers.start();
      host.onStop("peer directory", () => peers.stop());
      const server = await host.serveConnect({
        host: config.host,
        port: config.port,
        drainMs: config.drainTimeoutSeconds * 1000,
        interceptors: [traceServerInterceptor()],
        routes: modelExpressRoutes(cache, peers, metrics, log),
      });
      await host.registerInstance("model_express", {
        address: server.url,
        transport: server.transport,
        metadata: {},
      });
      log.info("model-express ready", {
        url: server.url,
        local_url: server.localUrl,
        cache_dir: config.cacheDir,
        source: source.description,
        chunk_size: config.chunkSize,
        ...(config.cacheLimitBytes === undefined ? {} : { cache_limit_bytes: config.cacheLimitBytes }),
        ...(status ? { status_url: status.localUrl } : {}),
      });
      return {
        url: server.url,
        localUrl: server.localUrl,
        ...(status ? { statusUrl: status.localUrl } : {}),
        async stop() {
          await host.stop();
          log.info("stopped");
        },
      };
    },
  );
}
