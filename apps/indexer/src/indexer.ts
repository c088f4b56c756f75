import { IndexerService, type InstanceRecord } from "@kvasir/protocol";
import {
  createDiscovery,
  createEventPlane,
  DEFAULT_NATS_SERVER,
  formatInstanceId,
  instanceKey,
  kvEventsSubject,
  newInstanceId,
  type RuntimeConfig,
  type Service,
  type Subscription,
  startConnectServer,
  startStatusServer,
} from "@kvasir/runtime";
import { createLogger, initTracing, metricsText, setLogLevel } from "@kvasir/telemetry";
import { indexerServiceImpl } from "./find-matches.js";
import { chooseIndexBackend } from "./index-backend.js";
import { KvIngest } from "./ingest.js";
import { JetStreamKvSource, kvEventsStreamName } from "./jetstream-source.js";
import { IndexerMetrics } from "./metrics.js";
import { type Snapshot, SnapshotStore, type Watermarks } from "./snapshot-store.js";
import { Snapshotter } from "./snapshotter.js";
import { WorkerPresence } from "./worker-presence.js";
import { advertisedStreams } from "./zmq-discovery.js";
import { ZmqWorkerFeed } from "./zmq-feed.js";
import { ZmqKvStream } from "@kvasir/engine-wire";

/** One engine publishing vLLM/SGLang KV events over ZMQ, and the worker its blocks belong to. */
export interface ZmqPublisherConfig {
  endpoint: string;
  replayEndpoint?: string;
  workerId: bigint;
}

export interface IndexerConfig {
  runtime: RuntimeConfig;
  host: string;
  /** Connect server port (0: any free one). */
  port: number;
  /** /metrics and /health port (0: any free one). */
  httpPort: number;
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
  snapshot?: { redisUrl: string; key: string; intervalEvents: number; intervalSeconds: number };
  /** Given by tests and `kvasir serve`; random otherwise. */
  instanceId?: bigint;
  /** Address registered in discovery for peers to reach this process (`--advertise-host`); a wildcard bind advertises the host's primary address when undefined. */
  advertiseHost?: string;
  /** Port of the status server (/health, /live, /metrics; `--system-port`); none when undefined. */
  systemPort?: number;
}

export interface Indexer extends Service {
  readonly instanceId: bigint;
  /** Base URL of the Connect server serving IndexerService. */
  readonly url: string;
  /** URL of the Prometheus text endpoint. */
  readonly metricsUrl: string;
  readonly backend: "ts" | "native";
}

export const INDEXER_COMPONENT = "indexer";
export const FIND_MATCHES_ENDPOINT = "find_matches";

export function defaultSnapshotKey(namespace: string): string {
  return `kvasir:${namespace}:indexer:snapshot`;
}

/**
 * Starts the standalone KV indexer: consumes KV events from the event plane and from engines' ZMQ publishers,
 * serves IndexerService.FindMatches over Connect, registers in discovery, snapshots to Redis and restarts warm.
 */
export async function start(config: IndexerConfig): Promise<Indexer> {
  setLogLevel(config.runtime.logLevel);
  initTracing({ serviceName: "kvasir-indexer" });
  const instanceId = config.instanceId ?? newInstanceId();
  const { namespace } = config.runtime;
  const log = createLogger("indexer", { instance_id: formatInstanceId(instanceId) });
  const backend = await chooseIndexBackend(config.backend, log);
  const metrics = new IndexerMetrics(namespace, () => backend.workerBlocks());
  const components = new Set(config.kvEventComponents);
  if (config.jetStream && config.runtime.eventPlane.backend !== "nats") {
    throw new Error("--kv-events-jetstream needs --event-plane nats");
  }
  const zmqWorkers = new Set(config.zmq.publishers.map((p) => p.workerId));

  // Warm start: the last snapshot, and where each stream stood when it was taken.
  let store: SnapshotStore | undefined;
  let watermarks: Watermarks = { eventIds: new Map(), zmqSeqs: new Map() };
  if (config.snapshot) {
    store = new SnapshotStore(config.snapshot.redisUrl, config.snapshot.key, (error) =>
      log.warn("redis error", { error: error.message }),
    );
    await store.connect();
    const snapshot = await store.load();
    if (snapshot && snapshot.backend === backend.name && snapshot.blockSize === config.blockSize) {
      try {
        backend.restore(snapshot.index);
        watermarks = snapshot.watermarks;
        log.info("restored snapshot", {
          key: config.snapshot.key,
          taken_at: new Date(snapshot.takenAtMs).toISOString(),
          workers: new Set(backend.workerBlocks().map((w) => w.workerId)).size,
        });
      } catch (error) {
        // A snapshot this index cannot read is no reason not to serve: start cold, and replay what engines hold.
        backend.index.clear();
        log.warn("snapshot unreadable, starting cold", { key: config.snapshot.key, error: String(error) });
      }
    } else if (snapshot) {
      log.warn("ignoring snapshot written with other settings", {
        snapshot_backend: snapshot.backend,
        snapshot_block_size: snapshot.blockSize,
        backend: backend.name,
        block_size: config.blockSize,
      });
    }
  }

  const ingest = new KvIngest(
    backend.index,
    {
      applied: (event) => metrics.applied(event),
      dropped: (reason, count) => metrics.dropped(reason, count),
      gap: (workerId, from, to) => {
        metrics.gap();
        log.warn("kv events lost", {
          worker_id: formatInstanceId(workerId),
          from: from.toString(),
          to: to.toString(),
        });
      },
    },
    watermarks.eventIds,
  );

  const discovery = await createDiscovery(config.runtime.discovery);
  const events = await createEventPlane(config.runtime.eventPlane);

  // Workers that left while this indexer was down leave the restored index now; the watch takes it from here.
  if (store) {
    const present = await WorkerPresence.present(discovery, namespace, components);
    for (const workerId of new Set(backend.workerBlocks().map((w) => w.workerId))) {
      if (!present.has(workerId) && !zmqWorkers.has(workerId)) ingest.removeWorker(workerId);
    }
  }
  // ZMQ streams by endpoint: the configured ones, and with --zmq-from-discovery those workers advertise.
  const streams = new Map<string, { stream: ZmqKvStream; workerId: bigint; discovered: boolean }>();
  let jetStream: JetStreamKvSource | undefined;
  const capture = (): Snapshot => ({
    index: backend.snapshot(),
    backend: backend.name,
    watermarks: {
      eventIds: new Map(ingest.eventIdWatermarks),
      zmqSeqs: new Map(
        [...streams.values()]
          .filter(({ stream }) => stream.lastSeq >= 0n)
          .map(({ stream }) => [stream.endpoint, stream.lastSeq] as [string, bigint]),
      ),
      ...(jetStream ? { jetStreamSeq: jetStream.lastSeq } : {}),
    },
    blockSize: config.blockSize,
    takenAtMs: Date.now(),
  });
  const snapshotter =
    store && config.snapshot
      ? new Snapshotter(
          store,
          config.snapshot,
          () => ingest.appliedEvents,
          capture,
          (ok, error) => {
            metrics.snapshot(ok);
            if (!ok) log.warn("snapshot failed", { error: String(error) });
          },
        )
      : undefined;

  const subjects = new Set([...components].map((component) => kvEventsSubject(namespace, component)));
  const onPlaneBatch = (data: Uint8Array) => {
    ingest.applyPlaneBatch(data);
    snapshotter?.eventsApplied();
  };
  let subscriptions: Subscription[] = [];
  if (config.jetStream) {
    jetStream = await JetStreamKvSource.open(
      {
        natsServers: config.runtime.eventPlane.natsServers ?? DEFAULT_NATS_SERVER,
        stream: kvEventsStreamName(namespace),
        subject: kvEventsSubject(namespace, "*"),
        maxAgeSeconds: config.jetStream.maxAgeSeconds,
        ...(watermarks.jetStreamSeq === undefined ? {} : { afterSeq: watermarks.jetStreamSeq }),
      },
      // The stream keeps every component's events; take the configured components' only.
      (subject, data) => {
        if (subjects.has(subject)) onPlaneBatch(data);
      },
      log,
    );
  } else {
    subscriptions = [...subjects].map((subject) =>
      events.subscribe(subject, (message) => onPlaneBatch(message.data)),
    );
  }

  const openStream = (publisher: ZmqPublisherConfig, discovered: boolean): ZmqKvStream => {
    const feed = new ZmqWorkerFeed(publisher.workerId, ingest, (reason, count) =>
      metrics.dropped(reason, count),
    );
    const watermark = watermarks.zmqSeqs.get(publisher.endpoint);
    const stream = new ZmqKvStream(
      {
        endpoint: publisher.endpoint,
        ...(publisher.replayEndpoint ? { replayEndpoint: publisher.replayEndpoint } : {}),
        topic: config.zmq.topic,
        replayTimeoutMs: config.zmq.replayTimeoutMs,
        ...(watermark === undefined ? {} : { watermark }),
      },
      {
        batch: (seq, payload) => {
          feed.batch(seq, payload);
          snapshotter?.eventsApplied();
        },
        learn: (seq, payload) => feed.learn(seq, payload),
        restart: () => feed.restart(),
        dropped: (reason, count) => feed.dropped(reason, count),
      },
      log,
    );
    streams.set(publisher.endpoint, { stream, workerId: publisher.workerId, discovered });
    return stream;
  };
  await Promise.all(config.zmq.publishers.map((publisher) => openStream(publisher, false).start()));
  // Ready means caught up: what the start-up replays delivered is visible to the first lookup.
  backend.flush();

  const presence = new WorkerPresence(discovery, namespace, components, {
    joined: (workerId, record) => {
      if (!config.zmq.fromDiscovery) return;
      for (const advertised of advertisedStreams(record)) {
        if (streams.has(advertised.endpoint)) continue;
        const stream = openStream({ ...advertised, workerId }, true);
        stream.start().then(
          () =>
            log.info("subscribed to advertised zmq stream", {
              worker_id: formatInstanceId(workerId),
              ...advertised,
            }),
          (error: unknown) => {
            streams.delete(advertised.endpoint);
            log.warn("cannot subscribe to advertised zmq stream", { ...advertised, error: String(error) });
          },
        );
      }
    },
    left: (workerId) => {
      log.info("worker left, removing its blocks", { worker_id: formatInstanceId(workerId) });
      for (const [endpoint, entry] of streams) {
        if (entry.workerId !== workerId || !entry.discovered) continue;
        streams.delete(endpoint);
        void entry.stream.close();
      }
      ingest.removeWorker(workerId);
    },
  });

  const server = await startConnectServer({
    host: config.host,
    port: config.port,
    routes: (router) =>
      router.service(
        IndexerService,
        indexerServiceImpl(config.blockSize, (local) =>
          metrics.timeLookup(() => backend.index.findMatches(local)),
        ),
      ),
  });

  let draining = false;
  const status = await startStatusServer({
    host: config.host,
    port: config.httpPort,
    health: () => ({ ready: !draining, backend: backend.name }),
    metrics: () => metricsText(metrics.registry),
  });
  const metricsUrl = `${status.url}/metrics`;

  const record: InstanceRecord = {
    address: server.url,
    transport: "connect-h2c",
    metadata: { block_size: String(config.blockSize), backend: backend.name, metrics_url: metricsUrl },
  };
  const lease = await discovery.register(
    instanceKey({ namespace, component: INDEXER_COMPONENT, endpoint: FIND_MATCHES_ENDPOINT, instanceId }),
    record,
  );
  log.info("indexer ready", {
    url: server.url,
    metrics_url: metricsUrl,
    backend: backend.name,
    namespace,
    block_size: config.blockSize,
    zmq_publishers: config.zmq.publishers.length,
  });

  let stopping: Promise<void> | undefined;
  return {
    instanceId,
    url: server.url,
    metricsUrl,
    backend: backend.name,
    stop() {
      stopping ??= (async () => {
        draining = true;
        // Deregister first so routers stop asking, then let in-flight lookups finish.
        await lease.revoke();
        await server.close({ graceMs: 5000 });
        for (const subscription of subscriptions) subscription.unsubscribe();
        await jetStream?.close();
        await Promise.all([...streams.values()].map(({ stream }) => stream.close()));
        await presence.stop();
        await snapshotter?.close();
        await store?.close();
        await status.close();
        await Promise.all([events.close(), discovery.close()]);
        log.info("stopped");
      })();
      return stopping;
    },
  };
}
