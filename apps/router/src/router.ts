import type { InstanceRecord } from "@kvasir/protocol";
import { RouterService, WorkerService } from "@kvasir/protocol";
import { createClient, type HostDeps, type Service, startComponent } from "@kvasir/runtime";
import {
  createRouting,
  followRemoteIndexer,
  type KvRouterHost,
  openWorkerPools,
  servingPipeline,
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
import { routerServiceImpl } from "./service.js";

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
  // Its handlers and logs read the active trace context (the server span), so it keeps the async context.
  initTracing({ serviceName: "kvasir-router", asyncContext: true });
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
      const pools = await openWorkerPools(host.discovery, {
        namespace,
        events: host.events,
        log,
      });
      host.onStop("worker pools", () => pools.close());
      // BestWorker, PotentialLoads and the bookings answer for --worker-component's pool.
      const pool = pools[config.workerComponent];
      const status = await host.serveStatus({
        host: config.host,
        port: config.systemPort,
        health: () => ({ workers: pool.size }),
        metrics: () => metricsText(registry),
      });
      const remoteIndexer = config.router.useRemoteIndexer
        ? await followRemoteIndexer(host.discovery, namespace, host.clientOptions, { log, registry })
        : undefined;
      if (remoteIndexer) host.onStop("remote indexer", () => remoteIndexer.stop());
      const routing = await createRouting(
        host,
        pools,
        {
          mode: "kv",
          kv: config.router,
          maxLocalPrefillLength: config.maxLocalPrefillLength,
          bookingLeaseMs: config.bookingLeaseSeconds * 1000,
          onExpired: (ids) => {
            metrics.bookingsExpiredTotal.inc(ids.length);
            log.warn("router bookings expired without a free", { bookings: ids.length });
          },
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
        },
        log,
      );
      host.onStop("routing", () => routing.close());
      const kv = routing.kvRouterOf(pool);

      const clientOptions = { ...host.clientOptions, interceptors: [traceClientInterceptor()] };
      const generate = servingPipeline(
        routing,
        (address) => createClient(WorkerService, address, clientOptions),
        { migrationLimit: MIGRATION_LIMIT, retryLimit: RETRY_LIMIT, outer: [observeGenerate(metrics)] },
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
              maxLeaseMs: config.bookingLeaseSeconds * 1000,
              onDecision: (decision) => observeRoute(metrics, decision),
              ...(config.blockSize !== undefined ? { blockSize: config.blockSize } : {}),
              inFlight: { started: () => inFlight++, ended: () => inFlight-- },
            }),
          ),
      });
      host.onStop("log drain", () => log.info("draining", { in_flight: inFlight }));
      const record: InstanceRecord = {
        address: server.url,
        transport: server.transport,
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
