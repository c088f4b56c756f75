import type { InstanceRecord } from "@kvasir/protocol";
import {
  type ComponentHost,
  DEFAULT_NATS_SERVER,
  formatInstanceId,
  type HostDeps,
  type HostedServer,
  newInstanceId,
  type RuntimeConfig,
  type Service,
  startComponent,
} from "@kvasir/runtime";
import { createLogger, flushTracing, initTracing, metricsText, setLogLevel } from "@kvasir/telemetry";
import type { ZmqPublisherConfig } from "./engine-streams.js";
import { indexerRoutes } from "./find-matches.js";
import { chooseIndexBackend, type IndexBackend } from "./index-backend.js";
import { KvSources, type KvSourcesOptions } from "./kv-sources.js";
import { IndexerMetrics } from "./metrics.js";
import { openSnapshots, type SnapshotConfig, snapshotOf } from "./snapshots.js";
import type { Snapshotter } from "./snapshotter.js";

export type { ZmqPublisherConfig } from "./engine-streams.js";

export interface IndexerConfig {
  runtime: RuntimeConfig;
  host: string;
  /** Connect server port (0: any free one). */
  port: number;
  blockSize: number;
  /** Index implementation; undefined picks native when it loads, else ts. */
  backend?: "ts" | "native";
  /** Worker components whose event-plane KV events are consumed, and whose leaving clears their blocks. */
  kvEventComponents: string[];
  /** Read those events through a JetStream stream, so a restart replays what was missed (event plane nats only). */
  jetStream?: { maxAgeSeconds: number };
  zmq: {
    publishers: ZmqPublisherConfig[];
    /** Also subscribe to the streams workers advertise in discovery (the mocker's `--kv-events-publisher zmq`). */
    fromDiscovery: boolean;
    topic: string;
    replayTimeoutMs: number;
  };
  snapshot?: SnapshotConfig;
  /** Given by tests and `kvasir serve`; random otherwise. */
  instanceId?: bigint;
  /** Address registered in discovery for peers to reach this process (`--advertise-host`); a wildcard bind advertises the host's primary address when undefined. */
  advertiseHost?: string;
  /** Port of the status server (/health, /live, /metrics; `--system-port`); none when undefined. */
  systemPort?: number;
}

export interface Indexer extends Service {
  readonly instanceId: bigint;
  /** Advertised base URL of the Connect server serving IndexerService (the one registered in discovery). */
  readonly url: string;
  /** Advertised URL of the Prometheus text endpoint; undefined without a status server. */
  readonly metricsUrl: string | undefined;
  readonly backend: "ts" | "native";
}

export const INDEXER_COMPONENT = "indexer";
export const FIND_MATCHES_ENDPOINT = "find_matches";
/** How long in-flight lookups may finish once the indexer has deregistered. */
const DRAIN_MS = 5000;

export function defaultSnapshotKey(namespace: string): string {
  return `kvasir:${namespace}:indexer:snapshot`;
}

/**
 * Starts the standalone KV indexer: consumes KV events from the event plane and from engines' ZMQ publishers,
 * serves IndexerService.FindMatches over Connect, registers in discovery, snapshots to Redis and restarts warm.
 *
 * Stop (and a start that fails part-way) runs in reverse: deregister, drain lookups, stop ingesting, write the
 * final snapshot, close Redis, close the status server, close the planes the host opened, flush tracing.
 */
export async function start(config: IndexerConfig, deps: HostDeps = {}): Promise<Indexer> {
  setLogLevel(config.runtime.logLevel);
  initTracing({ serviceName: "kvasir-indexer" });
  if (config.jetStream && config.runtime.eventPlane.backend !== "nats") {
    throw new Error("--kv-events-jetstream needs --event-plane nats");
  }
  const instanceId = deps.instanceId ?? config.instanceId ?? newInstanceId();
  const log = createLogger("indexer", { instance_id: formatInstanceId(instanceId) });
  const backend = await chooseIndexBackend(config.backend, log);
  const metrics = new IndexerMetrics(config.runtime.namespace, () => backend.workerBlocks());
  const hostOptions = {
    component: INDEXER_COMPONENT,
    runtime: config.runtime,
    log,
    flush: flushTracing,
    deps: { ...deps, instanceId },
    ...(config.advertiseHost === undefined ? {} : { advertiseHost: config.advertiseHost }),
  };
  return startComponent(hostOptions, async (host) => {
    const onStop = host.onStop.bind(host);
    onStop("log", () => log.info("stopped"));
    // True once started: a start that failed part-way leaves no final snapshot of its partial state.
    let serving = false;
    // First, so a taken port fails before anything is loaded; closed last, so scrapes see the drain.
    const status = await host.serveStatus({
      host: config.host,
      port: config.systemPort,
      health: () => ({ backend: backend.name }),
      metrics: () => metricsText(metrics.registry),
    });

    const snapshots = config.snapshot && (await openSnapshots(config.snapshot, onStop, log));
    const restored = snapshots ? await snapshots.restore(backend, config.blockSize) : undefined;
    let snapshotter: Snapshotter | undefined;
    const applied = () => snapshotter?.eventsApplied();
    const sources = kvSources(config, host, { backend, metrics, restored, applied, log });
    const capture = () => snapshotOf(backend, config.blockSize, sources.watermarks());
    const appliedEvents = () => sources.ingest.appliedEvents;
    snapshotter = snapshots?.schedule({ appliedEvents, capture, metrics, final: () => serving }, onStop);
    await sources.start(onStop);

    const lookup = (local: BigUint64Array) => metrics.timeLookup(() => backend.index.findMatches(local));
    const server = await host.serveConnect({
      host: config.host,
      port: config.port,
      drainMs: DRAIN_MS,
      routes: indexerRoutes(config.blockSize, lookup),
    });
    const metricsUrl = status && `${status.url}/metrics`;
    await host.registerInstance(
      FIND_MATCHES_ENDPOINT,
      instanceRecord(server, config.blockSize, backend, metricsUrl),
    );
    serving = true;
    log.info("indexer ready", {
      url: server.url,
      ...(metricsUrl ? { metrics_url: metricsUrl } : {}),
      backend: backend.name,
      namespace: config.runtime.namespace,
      block_size: config.blockSize,
      zmq_publishers: config.zmq.publishers.length,
    });
    return { instanceId, url: server.url, metricsUrl, backend: backend.name, stop: () => host.stop() };
  });
}

/** The index's feeds as the config describes them, over the host's planes. */
function kvSources(
  config: IndexerConfig,
  host: ComponentHost,
  parts: Pick<KvSourcesOptions, "backend" | "metrics" | "restored" | "applied" | "log">,
): KvSources {
  return new KvSources({
    ...parts,
    discovery: host.discovery,
    events: host.events,
    namespace: config.runtime.namespace,
    components: new Set(config.kvEventComponents),
    ...(config.jetStream
      ? {
          jetStream: {
            natsServers: config.runtime.eventPlane.natsServers ?? DEFAULT_NATS_SERVER,
            maxAgeSeconds: config.jetStream.maxAgeSeconds,
          },
        }
      : {}),
    zmq: config.zmq,
  });
}

/** What routers find in discovery: where to ask, and what the answers mean. */
function instanceRecord(
  server: HostedServer,
  blockSize: number,
  backend: IndexBackend,
  metricsUrl: string | undefined,
): InstanceRecord {
  return {
    address: server.url,
    transport: server.transport,
    metadata: {
      block_size: String(blockSize),
      backend: backend.name,
      ...(metricsUrl ? { metrics_url: metricsUrl } : {}),
    },
  };
}
