import {
  openZmqKvPublisher,
  streamsMetadata,
  type ZmqKvPublisher,
  type ZmqPublisherOptions,
} from "@kvasir/engine-wire";
import { DEFAULT_MOCKER_CONFIG } from "@kvasir/mocker";
import type { InstanceRecord } from "@kvasir/protocol";
import { LoadMetricsSchema, toBinary, WorkerService } from "@kvasir/protocol";
import {
  type ComponentHost,
  type HostDeps,
  kvEventsSubject,
  loadMetricsSubject,
  mdcKey,
  type RuntimeConfig,
  type Service,
  startComponent,
} from "@kvasir/runtime";
import {
  createComponentMetrics,
  createKvStatsMetrics,
  createKvTransferMetrics,
  createLogger,
  createMetricsRegistry,
  flushTracing,
  hierarchyLabels,
  initTracing,
  type MetricsRegistry,
  metricsText,
  setLogLevel,
  traceServerInterceptor,
} from "@kvasir/telemetry";
import { startKvTransfer } from "./disagg/kv-transfer.js";
import type { Engine, EngineListener } from "./engine.js";
import { EngineAvailability } from "./engine-availability.js";
import { createEngine, type EngineConfig } from "./engines/create.js";
import { HttpEngine } from "./engines/http-engine/http-engine.js";
import { openModelText } from "./engines/model-text.js";
import type { KvTransferConfig } from "./flags.js";
import { encodeKvEventBatch } from "./kv-event-wire.js";
import { buildModelCard, type DisaggregationMode, type ServedModelType } from "./model-card.js";
import { fetchModelFiles, type ModelFilesConfig } from "./model-files.js";
import type { SnapshotConfig } from "./snapshot/flags.js";
import { restoredEngine } from "./snapshot/restore.js";
import { workerServiceImpl } from "./worker-service.js";

export type { EngineConfig };

export interface WorkerConfig {
  runtime: RuntimeConfig;
  /** First name is the served name; the rest are aliases. */
  servedModelNames: string[];
  modelPath: string;
  disaggregationMode: DisaggregationMode;
  /** `--model-type`: a generative model (chat and completions) or an embedding model. Default chat. */
  modelType?: ServedModelType;
  engine: EngineConfig;
  host: string;
  port: number;
  drainTimeoutSeconds: number;
  /** Port of the status server (/health, /live, /metrics); none when undefined. */
  systemPort?: number;
  /** Address registered in discovery for peers to reach this process (`--advertise-host`); a wildcard bind advertises the host's primary address when undefined. */
  advertiseHost?: string;
  /** Given by tests and by `kvasir serve`; random otherwise. `deps.instanceId` wins when both are given. */
  instanceId?: bigint;
  /** Publish KV events on ZMQ as vLLM does instead of on the event plane (`--kv-events-publisher zmq`). */
  zmqKvEvents?: ZmqPublisherOptions;
  /** KV transfer of prefill and decode workers (`--kv-transfer-lease`, `--kv-transfer-timeout`); 30 s each when absent. */
  kvTransfer?: KvTransferConfig;
  /** A model to fetch (hub id, s3:// URL) before the engine starts; `modelPath` becomes its snapshot directory. */
  modelFiles?: ModelFilesConfig;
  /** Called after the worker stopped because its engine process is gone for good (vLLM, SGLang). */
  onEngineFailed?: (reason: string) => void;
  /** The snapshot agent: restore the engine from a checkpoint (`--restore-from`); checkpoint jobs run apart. */
  snapshot?: SnapshotConfig;
}

export interface Worker extends Service {
  readonly instanceId: bigint;
  /** The advertised URL registered in discovery. */
  readonly url: string;
  readonly component: string;
  /** dynamo_component_* metrics of this worker. */
  readonly metrics: MetricsRegistry;
}

/** Dynamo's component names: aggregated workers are `backend`; disaggregated ones `prefill` or `decode`. */
const componentOf = { agg: "backend", prefill: "prefill", decode: "decode" } as const;

/**
 * Starts a worker on the component host: serves WorkerService.Generate over Connect in front of its engine,
 * registers its instance (under the advertised address) and Model Deployment Card, and publishes KV events and
 * load metrics. Things start in the order that makes the host's reverse stop right: status server, engine (with
 * its event sinks), Connect server, registrations; so stop deregisters first, drains streams, then closes the
 * engine, its sinks, the status server and the planes. A start that fails part-way stops what it started.
 */
export async function start(config: WorkerConfig, deps?: HostDeps): Promise<Worker> {
  setLogLevel(config.runtime.logLevel);
  // Its handlers and logs read the active trace context (the server span), so it keeps the async context.
  initTracing({ serviceName: "kvasir-worker", asyncContext: true });
  const component = componentOf[config.disaggregationMode];
  const instanceId = deps?.instanceId ?? config.instanceId;
  const log = createLogger("worker", { dynamo_component: component });
  return startComponent(
    {
      component,
      runtime: config.runtime,
      log,
      flush: flushTracing,
      ...(config.advertiseHost ? { advertiseHost: config.advertiseHost } : {}),
      deps: { ...deps, ...(instanceId === undefined ? {} : { instanceId }) },
    },
    async (host) =>
      serveWorker(
        config.modelFiles
          ? { ...config, modelPath: await fetchModelFiles(config.modelFiles, host, config.host, log) }
          : config,
        host,
        log,
      ),
  );
}

async function serveWorker(
  config: WorkerConfig,
  host: ComponentHost,
  log: ReturnType<typeof createLogger>,
): Promise<Worker> {
  const { namespace, component, instanceId } = host;
  const metrics = createMetricsRegistry(
    hierarchyLabels({ namespace, component, workerId: host.instanceHex }),
  );
  const componentMetrics = createComponentMetrics(metrics);
  const kvStats = createKvStatsMetrics(metrics);
  const endpoint = { dynamo_endpoint: "generate" };
  const [name] = config.servedModelNames;

  // Started first so it reports on everything else until that has stopped.
  const status = await host.serveStatus({
    host: config.host,
    port: config.systemPort,
    health: () => ({ model: name }),
    // A real engine's own metrics follow the worker's (set once the engine runs).
    metrics: async () => `${await metricsText(metrics)}${engineMetrics()}`,
  });
  let engineMetrics = (): string => "";

  // Disaggregated workers move KV blocks with the native transfer engine; closed after the engine (stop runs in
  // reverse), so requests are aborted before pulls in flight fail.
  let releaseUrl = "";
  const mode = config.disaggregationMode;
  // Real engines (vLLM, SGLang) move KV blocks themselves.
  const kv =
    mode === "agg" || config.engine.backend !== "mocker"
      ? undefined
      : await startKvTransfer(
          {
            role: mode,
            workerIdHex: host.instanceHex,
            bindHost: config.host,
            advertiseHost: host.advertise(config.host),
            blockSize: config.engine.mocker.blockSize ?? DEFAULT_MOCKER_CONFIG.blockSize,
            kvBytesPerToken: config.engine.mocker.kvBytesPerToken ?? DEFAULT_MOCKER_CONFIG.kvBytesPerToken,
            leaseSeconds: config.kvTransfer?.leaseSeconds ?? 30,
            timeoutSeconds: config.kvTransfer?.timeoutSeconds ?? 30,
            ...(config.kvTransfer?.maxHeldBytes === undefined
              ? {}
              : { maxHeldBytes: config.kvTransfer.maxHeldBytes }),
            metrics: createKvTransferMetrics(metrics),
            clientOptions: host.clientOptions,
            log,
          },
          () => releaseUrl,
        );
  if (kv) host.onStop("kv transfer", () => kv.close());

  // A restored engine is attached to where its checkpoint says it listens; a failed restore may start it cold.
  const source = await restoredEngine(config, log);
  const engine: Engine = await createEngine(source.engine, {
    workerId: instanceId,
    text: await openModelText(config.modelPath),
    ...(kv ? { kv } : {}),
    log,
    advertiseHost: host.advertise(config.host),
    disaggregationMode: mode,
  });
  engineMetrics = () => engine.metricsText?.() ?? "";
  const sinks: { zmq?: ZmqKvPublisher; unsubscribe?: () => void } = {};
  host.onStop("engine", async () => {
    await engine.close();
    // Only once the engine has stopped, so its last KV events and load still go out.
    sinks.unsubscribe?.();
    await sinks.zmq?.close();
  });
  const zmq = config.zmqKvEvents
    ? await openZmqKvPublisher(config.zmqKvEvents, engine.capacity.dataParallelSize)
    : undefined;
  sinks.zmq = zmq;
  const card = buildModelCard(config, engine.capacity);

  const kvSubject = kvEventsSubject(namespace, component);
  const metricsSubject = loadMetricsSubject(namespace, component);
  const listener: EngineListener = {
    kvEvents: zmq
      ? (batch) => zmq.publish(batch)
      : (batch) =>
          host.events.publish(
            kvSubject,
            // Hand-encoded: protobuf-es's writer cost ms per request with a long prompt's blocks (kv-event-wire.ts).
            encodeKvEventBatch(batch),
          ),
    loadMetrics: (ranks) => {
      for (const m of ranks) host.events.publish(metricsSubject, toBinary(LoadMetricsSchema, m));
      const active = ranks.reduce((sum, m) => sum + Number(m.activeKvBlocks), 0);
      const total = ranks.reduce((sum, m) => sum + Number(m.totalKvBlocks), 0);
      kvStats.activeBlocks.set(active);
      kvStats.totalBlocks.set(total);
      kvStats.gpuCacheUsagePercent.set(total > 0 ? active / total : 0);
    },
  };
  const availability = new EngineAvailability({
    register: async () => [
      await host.register(mdcKey(namespace, card.name, instanceId), card),
      await host.registerInstance("generate", record),
    ],
    stop: () => host.stop(),
    ...(config.onEngineFailed ? { failed: config.onEngineFailed } : {}),
    log,
  });
  listener.availability = availability.changed;
  sinks.unsubscribe = engine.subscribe(listener);

  const server = await host.serveConnect({
    host: config.host,
    port: config.port,
    drainMs: config.drainTimeoutSeconds * 1000,
    interceptors: [traceServerInterceptor()],
    routes: (routes) =>
      routes.service(
        WorkerService,
        workerServiceImpl(engine, {
          started: () => componentMetrics.inflightRequests.inc(endpoint),
          finished: (request, outcome, seconds) => {
            componentMetrics.inflightRequests.dec(endpoint);
            componentMetrics.requestsTotal.inc(endpoint);
            componentMetrics.requestDuration.observe(endpoint, seconds);
            if (outcome === "invalid" || outcome === "error") {
              componentMetrics.errorsTotal.inc({ ...endpoint, error_type: outcome });
            }
            log.debug("generate finished", { request_id: request.requestId, outcome, seconds });
          },
          ...(kv?.export ? { releaseKvBlocks: kv.export.release } : {}),
        }),
      ),
  });
  releaseUrl = server.url;
  host.onStop("drain log", () => log.info("draining", { active_requests: engine.activeRequests }));

  const record: InstanceRecord = {
    address: server.url,
    transport: server.transport,
    metadata: {
      model: card.name,
      data_parallel_size: String(card.runtimeConfig.dataParallelSize),
      // Where a ZMQ subscriber finds this worker's vLLM-style KV event streams (one per dp rank).
      ...(zmq ? streamsMetadata(zmq.endpoints, zmq.replayEndpoints) : {}),
    },
  };
  // Its cached blocks are stale to every router: emptied and announced so before the worker takes traffic.
  if (source.restored && engine instanceof HttpEngine) await engine.announceEmptyCache();
  await availability.registerFirst();
  // Announce the empty cache so routers know the worker's capacity before its first request.
  listener.loadMetrics(engine.loadMetrics());
  log.info("worker ready", {
    url: server.url,
    local_url: server.localUrl,
    instance_id: host.instanceHex,
    model: card.name,
    namespace,
    ...(status ? { status_url: status.localUrl } : {}),
    ...(zmq ? { zmq_endpoints: zmq.endpoints, zmq_replay_endpoints: zmq.replayEndpoints } : {}),
  });

  return {
    instanceId,
    url: server.url,
    component,
    metrics,
    async stop() {
      await host.stop();
      log.info("stopped");
    },
  };
}
