import type { InstanceRecord } from "@kvasir/protocol";
import { RouterService, WorkerService } from "@kvasir/protocol";
import { createClient, type HostDeps, type Service, startComponent } from "@kvasir/runtime";
import {
  callWorker,
  followRemoteIndexer,
  hostKvRouter,
  type KvRouterHost,
  migrate,
  pipeline,
  retry,
  route,
  WorkerPool,
} from "@kvasir/serving";
import {
  createKvIndexMetrics,
  createLogger,
  createMetricsRegistry,
  createRouterMetrics,
  flushTracing,
  hierarchyLabels,
  initTracing,
  metricsText,
  setLogLevel,
  traceClientInterceptor,
  traceServerInterceptor,
} from "@kvasir/telemetry";
import type { RouterConfig } from "./config.js";
import { observeGenerate, observeRoute } from "./metrics.js";
import { pinnedRouter, routerServiceImpl } from "./service.js";

export const ROUTER_COMPONENT = "router";
export const ROUTER_ENDPOINT = "generate";
/** Attempts on other workers when one fails before the first token, and moves of a stream mid-way. */
const RETRY_LIMIT = 3;
const MIGRATION_LIMIT = 3;

export interface Router extends Service {
  readonly instanceId: bigint;
  /** The advertised URL registered in discovery. */
  readonly url: string;
  /** The status server's URL (/metrics, /health), when --system-port is set. */
  readonly statusUrl?: string;
  /** The routing core, for in-process callers and tests. */
  readonly core: KvRouterHost["core"];
}

/**
 * Starts a standalone KV router on the component host: follows the worker pool and its KV events, serves
 * RouterService over Connect, shares active sequences with replicas, and registers itself in discovery.
 */
export function start(config: RouterConfig, deps?: HostDeps): Promise<Router> {
  setLogLevel(config.runtime.logLevel);
  initTracing({ serviceName: "kvasir-router" });
  const log = createLogger("router");
  const instanceId = deps?.instanceId ?? config.instanceId;
  return startComponent(
    {
      component: ROUTER_COMPONENT,
      runtime: config.runtime,
      log,
      flush: flushTracing,
      ...(config.advertiseHost ? { advertiseHost: config.advertiseHost } : {}),
      deps: { ...deps, ...(instanceId !== undefined ? { instanceId } : {}) },
    },
    async (host) => {
      const { namespace } = host;
      const registry = createMetricsRegistry(hierarchyLabels({ namespace, component: ROUTER_COMPONENT }));
      const metrics = createRouterMetrics(registry, host.instanceHex);
      const indexMetrics = createKvIndexMetrics(registry);
      const pool = new WorkerPool(host.discovery, {
        namespace,
        component: config.workerComponent,
        events: host.events,
        onError: (error) => log.error("discovery watch failed", { error: String(error) }),
      });
      const status = await host.serveStatus({
        host: config.host,
        port: config.systemPort,
        health: () => ({ workers: pool.size }),
        metrics: () => metricsText(registry),
      });
      await pool.start();
      host.onStop("worker pool", () => pool.close());
      pool.onChange(({ type, worker }) =>
        log.info(type === "added" ? "worker joined" : "worker left", {
          worker_id: worker.instanceId.toString(16),
          address: worker.address,
        }),
      );
      const remoteIndexer = config.router.useRemoteIndexer
        ? await followRemoteIndexer(host.discovery, namespace)
        : undefined;
      if (remoteIndexer) host.onStop("remote indexer", () => remoteIndexer.stop());
      const kv = hostKvRouter(config.router, {
        pool,
        events: host.events,
        log,
        replicaId: host.instanceHex,
        ...(config.blockSize !== undefined ? { blockSize: config.blockSize } : {}),
        ...(remoteIndexer ? { remoteIndexer } : {}),
        onRoute: (decision) => observeRoute(metrics, decision),
        onEvents: (kinds) => {
          if (kinds === "malformed")
            indexMetrics.kvCacheEventsApplied.inc({ event_type: "batch", status: "malformed" });
          else
            for (const kind of kinds)
              indexMetrics.kvCacheEventsApplied.inc({ event_type: kind, status: "ok" });
        },
      });
      host.onStop("kv router", () => kv.close());

      const target = { pool, router: pinnedRouter(kv) };
      const interceptors = [traceClientInterceptor()];
      const generate = pipeline(
        [observeGenerate(metrics), migrate(MIGRATION_LIMIT), retry(RETRY_LIMIT), route(() => target)],
        callWorker((address) => createClient(WorkerService, address, { interceptors })),
      );
      let inFlight = 0;
      const server = await host.serveConnect({
        host: config.host,
        port: config.port,
        drainMs: config.drainTimeoutSeconds * 1000,
        interceptors: [traceServerInterceptor()],
        routes: (r) =>
          r.service(
            RouterService,
            routerServiceImpl({
              kv,
              pool,
              generate,
              onDecision: (decision) => observeRoute(metrics, decision),
              ...(config.blockSize !== undefined ? { blockSize: config.blockSize } : {}),
              inFlight: { started: () => inFlight++, ended: () => inFlight-- },
            }),
          ),
      });
      host.onStop("log drain", () => log.info("draining", { in_flight: inFlight }));
      const record: InstanceRecord = {
        address: server.url,
        transport: "connect-h2c",
        metadata: { indexer_backend: kv.indexer, replica_sync: String(config.router.replicaSync) },
      };
      await host.registerInstance(ROUTER_ENDPOINT, record);
      log.info("router ready", {
        url: server.url,
        namespace,
        indexer_backend: kv.indexer,
        worker_component: config.workerComponent,
        workers: pool.size,
        replica_sync: config.router.replicaSync,
        ...(status ? { status_url: status.localUrl } : {}),
      });
      return {
        instanceId: host.instanceId,
        url: server.url,
        ...(status ? { statusUrl: status.localUrl } : {}),
        core: kv.core,
        stop: () => host.stop(),
      };
    },
  );
}
