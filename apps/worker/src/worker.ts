import { MockEngine, type MockerConfig } from "@kvasir/mocker";
import type { InstanceRecord, ModelDeploymentCard, ModelType } from "@kvasir/protocol";
import { create, KvEventBatchSchema, LoadMetricsSchema, toBinary, WorkerService } from "@kvasir/protocol";
import {
  createDiscovery,
  createEventPlane,
  type Discovery,
  type EventPlane,
  formatInstanceId,
  instanceKey,
  kvEventsSubject,
  loadMetricsSubject,
  mdcKey,
  newInstanceId,
  type RuntimeConfig,
  type Service,
  startConnectServer,
  startStatusServer,
} from "@kvasir/runtime";
import {
  createComponentMetrics,
  createKvStatsMetrics,
  createLogger,
  createMetricsRegistry,
  hierarchyLabels,
  initTracing,
  type MetricsRegistry,
  metricsText,
  setLogLevel,
  traceServerInterceptor,
} from "@kvasir/telemetry";
import { EngineDriver } from "./engine-driver.js";
import { workerServiceImpl } from "./worker-service.js";
import { openZmqKvPublisher, type ZmqKvPublisher, type ZmqPublisherOptions } from "./zmq-publisher.js";

export interface WorkerConfig {
  runtime: RuntimeConfig;
  /** First name is the served name; the rest are aliases. */
  servedModelNames: string[];
  modelPath: string;
  disaggregationMode: "agg" | "prefill" | "decode";
  engine: Partial<MockerConfig>;
  host: string;
  port: number;
  drainTimeoutSeconds: number;
  /** Port of the status server (/health, /live, /metrics); none when undefined. */
  systemPort?: number;
  /** Address registered in discovery for peers to reach this process (`--advertise-host`); a wildcard bind advertises the host's primary address when undefined. */
  advertiseHost?: string;
  /** Given by tests and by `kvasir serve`; random otherwise. */
  instanceId?: bigint;
  /** Publish KV events on ZMQ as vLLM does instead of on the event plane (`--kv-events-publisher zmq`). */
  zmqKvEvents?: ZmqPublisherOptions;
}

export interface Worker extends Service {
  readonly instanceId: bigint;
  readonly url: string;
  readonly component: string;
  /** dynamo_component_* metrics of this worker. */
  readonly metrics: MetricsRegistry;
}

const componentOf = { agg: "backend", prefill: "prefill", decode: "decode" } as const;
const modelTypesOf: Record<WorkerConfig["disaggregationMode"], ModelType[]> = {
  agg: ["chat", "completions"],
  prefill: ["prefill"],
  decode: ["chat", "completions"],
};

/**
 * Starts a mocker worker: serves WorkerService.Generate over Connect, registers its instance and Model Deployment
 * Card in discovery, and publishes KV events and load metrics on the event plane.
 */
export async function start(config: WorkerConfig): Promise<Worker> {
  setLogLevel(config.runtime.logLevel);
  initTracing({ serviceName: "kvasir-worker" });
  const instanceId = config.instanceId ?? newInstanceId();
  const { namespace } = config.runtime;
  const component = componentOf[config.disaggregationMode];
  const log = createLogger("worker", {
    dynamo_component: component,
    instance_id: formatInstanceId(instanceId),
  });
  const discovery: Discovery = await createDiscovery(config.runtime.discovery);
  const events: EventPlane = await createEventPlane(config.runtime.eventPlane);

  const metrics = createMetricsRegistry(
    hierarchyLabels({ namespace, component, workerId: formatInstanceId(instanceId) }),
  );
  const componentMetrics = createComponentMetrics(metrics);
  const kvStats = createKvStatsMetrics(metrics);
  const endpoint = { dynamo_endpoint: "generate" };

  const engine = new MockEngine(config.engine, { workerId: instanceId });
  const kvSubject = kvEventsSubject(namespace, component);
  const metricsSubject = loadMetricsSubject(namespace, component);
  const zmq: ZmqKvPublisher | undefined = config.zmqKvEvents
    ? await openZmqKvPublisher(config.zmqKvEvents, engine.config.dataParallelSize)
    : undefined;
  const driver = new EngineDriver(engine, {
    kvEvents: zmq
      ? (batch) => zmq.publish(batch)
      : (batch) =>
          events.publish(
            kvSubject,
            toBinary(KvEventBatchSchema, create(KvEventBatchSchema, { events: batch })),
          ),
    loadMetrics: (ranks) => {
      for (const m of ranks) events.publish(metricsSubject, toBinary(LoadMetricsSchema, m));
      const active = ranks.reduce((sum, m) => sum + Number(m.activeKvBlocks), 0);
      const total = ranks.reduce((sum, m) => sum + Number(m.totalKvBlocks), 0);
      kvStats.activeBlocks.set(active);
      kvStats.totalBlocks.set(total);
      kvStats.gpuCacheUsagePercent.set(total > 0 ? active / total : 0);
    },
  });

  const server = await startConnectServer({
    host: config.host,
    port: config.port,
    interceptors: [traceServerInterceptor()],
    routes: (router) =>
      router.service(
        WorkerService,
        workerServiceImpl(driver, {
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
        }),
      ),
  });

  const engineConfig = engine.config;
  const [name, ...aliases] = config.servedModelNames;
  if (!name) throw new Error("a worker needs a served model name");
  const card: ModelDeploymentCard = {
    name,
    aliases,
    tokenizerPath: config.modelPath,
    contextLength: engineConfig.maxModelLen,
    kvCacheBlockSize: engineConfig.blockSize,
    modelTypes: modelTypesOf[config.disaggregationMode],
    runtimeConfig: {
      totalKvBlocks: engineConfig.numGpuBlocks,
      maxNumSeqs: engineConfig.maxNumSeqs,
      maxNumBatchedTokens: engineConfig.maxNumBatchedTokens,
      dataParallelSize: engineConfig.dataParallelSize,
    },
  };
  const record: InstanceRecord = {
    address: server.url,
    transport: "connect-h2c",
    metadata: {
      model: name,
      data_parallel_size: String(engineConfig.dataParallelSize),
      // Where a ZMQ subscriber finds this worker's vLLM-style KV event streams (one per dp rank).
      ...(zmq
        ? {
            zmq_kv_events_endpoints: zmq.endpoints.join(","),
            zmq_kv_events_replay_endpoints: zmq.replayEndpoints.join(","),
          }
        : {}),
    },
  };
  const identity = { namespace, component, endpoint: "generate", instanceId };
  const leases = await Promise.all([
    discovery.register(instanceKey(identity), record),
    discovery.register(mdcKey(namespace, name, instanceId), card),
  ]);
  let draining = false;
  const status =
    config.systemPort === undefined
      ? undefined
      : await startStatusServer({
          host: config.host,
          port: config.systemPort,
          health: () => ({ ready: !draining, instance_id: formatInstanceId(instanceId), model: name }),
          metrics: () => metricsText(metrics),
        });
  // Announce the empty cache so routers know the worker's capacity before its first request.
  driver.publishLoadMetrics();
  log.info("worker ready", {
    url: server.url,
    model: name,
    namespace,
    ...(status ? { status_url: status.url } : {}),
    ...(zmq ? { zmq_endpoints: zmq.endpoints, zmq_replay_endpoints: zmq.replayEndpoints } : {}),
  });

  let stopping: Promise<void> | undefined;
  return {
    instanceId,
    url: server.url,
    component,
    metrics,
    stop() {
      stopping ??= (async () => {
        draining = true;
        // Deregister first so no router picks this worker while its streams drain.
        await Promise.all(leases.map((lease) => lease.revoke()));
        log.info("draining", { active_requests: driver.activeRequests });
        await server.close({ graceMs: config.drainTimeoutSeconds * 1000 });
        await driver.idle();
        await zmq?.close();
        await status?.close();
        await events.flush();
        await Promise.all([events.close(), discovery.close()]);
        log.info("stopped");
      })();
      return stopping;
    },
  };
}
