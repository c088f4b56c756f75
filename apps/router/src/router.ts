import {
  activeSequencesSubject,
  KvRouter,
  type KvRouterOptions,
  kvEventSourceOver,
  kvRouterOptionsFromSettings,
  replicaSyncOver,
} from "@kvasir/kv";
import { createEmbeddedIndexer } from "@kvasir/native";
import type { InstanceRecord } from "@kvasir/protocol";
import { RouterService } from "@kvasir/protocol";
import {
  createDiscovery,
  createEventPlane,
  formatInstanceId,
  instanceKey,
  kvEventsSubject,
  newInstanceId,
  type Service,
  startConnectServer,
  startStatusServer,
} from "@kvasir/runtime";
import { followRemoteIndexer, type RemoteIndexer } from "@kvasir/serving";
import {
  createKvIndexMetrics,
  createLogger,
  createMetricsRegistry,
  createRouterMetrics,
  hierarchyLabels,
  initTracing,
  metricsText,
  setLogLevel,
  traceClientInterceptor,
  traceServerInterceptor,
} from "@kvasir/telemetry";
import type { RouterConfig } from "./config.js";
import { routerServiceImpl } from "./service.js";
import { WorkerDirectory } from "./worker-directory.js";

export const ROUTER_COMPONENT = "router";
export const ROUTER_ENDPOINT = "generate";
/** Bookings older than this lost their free (a peer crashed mid-request) and are swept. */
const STALE_BOOKING_MS = 30 * 60 * 1000;

export interface Router extends Service {
  readonly instanceId: bigint;
  readonly url: string;
  /** The status server's URL (/metrics, /health), when --system-port is set. */
  readonly statusUrl?: string;
  /** The routing core, for in-process callers and tests. */
  readonly core: KvRouter;
}

/**
 * Starts a standalone KV router: follows workers in discovery and their KV events on the event plane, serves
 * RouterService over Connect, shares active sequences with replicas, and registers itself in discovery.
 */
export async function start(config: RouterConfig): Promise<Router> {
  setLogLevel(config.runtime.logLevel);
  initTracing({ serviceName: "kvasir-router" });
  const instanceId = config.instanceId ?? newInstanceId();
  const idHex = formatInstanceId(instanceId);
  const log = createLogger("router", { instance_id: idHex });
  const { namespace } = config.runtime;
  const settings = config.router;
  const discovery = await createDiscovery(config.runtime.discovery);
  const events = await createEventPlane(config.runtime.eventPlane);
  const registry = createMetricsRegistry(hierarchyLabels({ namespace, component: ROUTER_COMPONENT }));
  const metrics = createRouterMetrics(registry, idHex);
  const indexMetrics = createKvIndexMetrics(registry);

  const remote: RemoteIndexer | undefined = settings.useRemoteIndexer
    ? await followRemoteIndexer(discovery, namespace)
    : undefined;
  const options: KvRouterOptions = {
    ...kvRouterOptionsFromSettings(settings, idHex),
    ...(config.blockSize !== undefined ? { blockSize: config.blockSize } : {}),
  };
  let indexerBackend = "remote";
  if (remote) {
    options.remoteFindMatches = remote.findMatches;
  } else if (settings.useKvEvents) {
    const embedded = createEmbeddedIndexer(settings.indexerBackend, (message, fields) =>
      log.warn(message, fields),
    );
    indexerBackend = embedded.backend;
    options.indexer = embedded.indexer;
    options.computeLocalHashes = embedded.computeLocalHashes;
    const source = kvEventSourceOver(events, [kvEventsSubject(namespace, config.workerComponent)], () =>
      indexMetrics.kvCacheEventsApplied.inc({ event_type: "batch", status: "malformed" }),
    );
    options.events = {
      subscribe: (handler) =>
        source.subscribe((batch) => {
          for (const ev of batch)
            indexMetrics.kvCacheEventsApplied.inc({ event_type: ev.data.kind, status: "ok" });
          handler(batch);
        }),
    };
  } else {
    indexerBackend = "approximate";
  }
  if (settings.replicaSync) options.replicaSync = replicaSyncOver(events, activeSequencesSubject(namespace));
  const core = new KvRouter(options);

  const workers = new WorkerDirectory({
    namespace,
    component: config.workerComponent,
    onGone: (id) => {
      core.removeWorker(id);
      log.info("worker left", { worker_id: formatInstanceId(id) });
    },
    onReady: (id) => log.info("worker joined", { worker_id: formatInstanceId(id) }),
    onError: (error) => log.error("discovery watch failed", { error: String(error) }),
  });
  await workers.start(discovery);

  let inFlight = 0;
  let draining = false;
  const server = await startConnectServer({
    host: config.host,
    port: config.port,
    interceptors: [traceServerInterceptor()],
    routes: (r) =>
      r.service(
        RouterService,
        routerServiceImpl({
          router: core,
          workers,
          ...(config.blockSize !== undefined ? { blockSize: config.blockSize } : {}),
          metrics,
          interceptors: [traceClientInterceptor()],
          inFlight: { started: () => inFlight++, ended: () => inFlight-- },
        }),
      ),
  });
  const status =
    config.systemPort === undefined
      ? undefined
      : await startStatusServer({
          host: config.host,
          port: config.systemPort,
          health: () => ({ ready: !draining, instance_id: idHex, workers: workers.size }),
          metrics: () => metricsText(registry),
        });
  const sweep = setInterval(() => core.sweepStale(STALE_BOOKING_MS), 60_000);
  sweep.unref();

  const record: InstanceRecord = {
    address: server.url,
    transport: "connect-h2c",
    metadata: { indexer_backend: indexerBackend, replica_sync: String(settings.replicaSync) },
  };
  const lease = await discovery.register(
    instanceKey({ namespace, component: ROUTER_COMPONENT, endpoint: ROUTER_ENDPOINT, instanceId }),
    record,
  );
  log.info("router ready", {
    url: server.url,
    namespace,
    indexer_backend: indexerBackend,
    worker_component: config.workerComponent,
    workers: workers.size,
    replica_sync: settings.replicaSync,
    ...(status ? { status_url: status.url } : {}),
  });

  let stopping: Promise<void> | undefined;
  return {
    instanceId,
    url: server.url,
    ...(status ? { statusUrl: status.url } : {}),
    core,
    stop() {
      stopping ??= (async () => {
        draining = true;
        // Deregister first so clients stop picking this router, then let in-flight streams finish.
        await lease.revoke();
        log.info("draining", { in_flight: inFlight });
        await server.close({ graceMs: config.drainTimeoutSeconds * 1000 });
        clearInterval(sweep);
        core.close();
        workers.stop();
        remote?.stop();
        await status?.close();
        await events.flush();
        await Promise.all([events.close(), discovery.close()]);
        log.info("stopped");
      })();
      return stopping;
    },
  };
}
