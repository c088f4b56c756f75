import type { ModelDeploymentCard, InstanceRecord, ModelType } from "@kvasir/protocol";
import { create, KvEventBatchSchema, toBinary, LoadMetricsSchema, WorkerService } from "@kvasir/protocol";
import { MockEngine, type MockerConfig } from "@kvasir/mocker";
import {
  type Discovery,
  type EventPlane,
  type RuntimeConfig,
  type Service,
  createDiscovery,
  createEventPlane,
  formatInstanceId,
  instanceKey,
  kvEventsSubject,
  loadMetricsSubject,
  mdcKey,
  newInstanceId,
  startConnectServer,
} from "@kvasir/runtime";
import { createLogger } from "@kvasir/telemetry";
import { EngineDriver } from "./engine-driver.js";
import { workerServiceImpl } from "./worker-service.js";

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
  /** Given by tests and by `kvasir serve`; random otherwise. */
  instanceId?: bigint;
}

export interface Worker extends Service {
  readonly instanceId: bigint;
  readonly url: string;
  readonly component: string;
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
  const instanceId = config.instanceId ?? newInstanceId();
  const { namespace } = config.runtime;
  const component = componentOf[config.disaggregationMode];
  const log = createLogger("worker", { component, instance_id: formatInstanceId(instanceId) });
  const discovery: Discovery = await createDiscovery(config.runtime.discovery);
  const events: EventPlane = await createEventPlane(config.runtime.eventPlane);

  const engine = new MockEngine(config.engine, { workerId: instanceId });
  const kvSubject = kvEventsSubject(namespace, component);
  const metricsSubject = loadMetricsSubject(namespace, component);
  const driver = new EngineDriver(engine, {
    kvEvents: (batch) => events.publish(kvSubject, toBinary(KvEventBatchSchema, create(KvEventBatchSchema, { events: batch }))),
    loadMetrics: (metrics) => {
      for (const m of metrics) events.publish(metricsSubject, toBinary(LoadMetricsSchema, m));
    },
  });

  const server = await startConnectServer({
    host: config.host,
    port: config.port,
    routes: (router) =>
      router.service(
        WorkerService,
        workerServiceImpl(driver, {
          finished: (request, outcome, seconds) =>
            log.debug("generate finished", { request_id: request.requestId, outcome, seconds }),
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
    metadata: { model: name, data_parallel_size: String(engineConfig.dataParallelSize) },
  };
  const identity = { namespace, component, endpoint: "generate", instanceId };
  const leases = await Promise.all([
    discovery.register(instanceKey(identity), record),
    discovery.register(mdcKey(namespace, name, instanceId), card),
  ]);
  // Announce the empty cache so routers know the worker's capacity before its first request.
  driver.publishLoadMetrics();
  log.info("worker ready", { url: server.url, model: name, namespace });

  let stopping: Promise<void> | undefined;
  return {
    instanceId,
    url: server.url,
    component,
    stop() {
      stopping ??= (async () => {
        // Deregister first so no router picks this worker while its streams drain.
        await Promise.all(leases.map((lease) => lease.revoke()));
        log.info("draining", { active_requests: driver.activeRequests });
        await server.close({ graceMs: config.drainTimeoutSeconds * 1000 });
        await driver.idle();
        await events.flush();
        await Promise.all([events.close(), discovery.close()]);
        log.info("stopped");
      })();
      return stopping;
    },
  };
}
