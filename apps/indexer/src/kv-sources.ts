import { type Discovery, type EventPlane, formatInstanceId } from "@kvasir/runtime";
import { EngineStreams, type ZmqPublisherConfig } from "./engine-streams.js";
import type { IndexBackend } from "./index-backend.js";
import { type IngestSink, KvIngest } from "./ingest.js";
import type { IndexerMetrics } from "./metrics.js";
import { PlaneSource } from "./plane-source.js";
import type { Watermarks } from "./snapshot-store.js";
import { WorkerPresence } from "./worker-presence.js";

export interface KvSourcesLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

export interface KvSourcesOptions {
  backend: IndexBackend;
  metrics: IndexerMetrics;
  discovery: Discovery;
  events: EventPlane;
  namespace: string;
  /** Worker components whose event-plane events are taken and whose leaving clears their blocks. */
  components: ReadonlySet<string>;
  /** Where a restored snapshot left each stream; undefined on a cold start. */
  restored: Watermarks | undefined;
  jetStream?: { natsServers: string; maxAgeSeconds: number };
  zmq: { publishers: ZmqPublisherConfig[]; fromDiscovery: boolean; topic: string; replayTimeoutMs: number };
  /** After each batch applied, from any source (drives snapshots). */
  applied: () => void;
  log: KvSourcesLog;
}

/**
 * Everything that feeds the index: event-plane KV events (core or JetStream), engines' ZMQ streams, and worker
 * departures seen in discovery. Built without I/O, so snapshots can be scheduled over it before it starts.
 */
export class KvSources {
  readonly ingest: KvIngest;
  private readonly plane: PlaneSource;
  private readonly streams: EngineStreams;

  constructor(private readonly options: KvSourcesOptions) {
    const { metrics, log, restored, applied } = options;
    this.ingest = new KvIngest(options.backend.index, ingestSink(metrics, log), restored?.eventIds);
    const afterSeq = restored?.jetStreamSeq;
    this.plane = new PlaneSource({
      events: options.events,
      namespace: options.namespace,
      components: options.components,
      ...(options.jetStream
        ? { jetStream: { ...options.jetStream, ...(afterSeq === undefined ? {} : { afterSeq }) } }
        : {}),
      onBatch: (data) => {
        this.ingest.applyPlaneBatch(data);
        applied();
      },
      log,
    });
    this.streams = new EngineStreams({
      ingest: this.ingest,
      topic: options.zmq.topic,
      replayTimeoutMs: options.zmq.replayTimeoutMs,
      watermarks: restored?.zmqSeqs ?? new Map(),
      dropped: (reason, count) => metrics.dropped(reason, count),
      applied,
      log,
    });
  }

  /** Where every stream stands now: the watermarks a snapshot of the index taken in this tick goes with. */
  watermarks(): Watermarks {
    const jetStreamSeq = this.plane.jetStreamSeq;
    return {
      eventIds: new Map(this.ingest.eventIdWatermarks),
      zmqSeqs: this.streams.seqWatermarks(),
      ...(jetStreamSeq === undefined ? {} : { jetStreamSeq }),
    };
  }

  /**
   * Starts consuming; returns once start-up replays are visible to lookups. Each source's stop is handed to
   * `onStop` before it opens, so a failure part-way closes what opened; they stop in reverse order, the
   * discovery watch (which may open streams) first.
   */
  async start(onStop: (name: string, action: () => unknown) => void): Promise<void> {
    const { options, ingest } = this;
    if (options.restored) await this.forgetDeparted();
    onStop("event-plane kv events", () => this.plane.close());
    await this.plane.start();
    onStop("zmq kv streams", () => this.streams.close());
    await this.streams.startConfigured(options.zmq.publishers);
    options.backend.flush();
    const presence = new WorkerPresence(options.discovery, options.namespace, options.components, {
      joined: (workerId, record) => {
        if (options.zmq.fromDiscovery) this.streams.follow(workerId, record);
      },
      left: (workerId) => {
        options.log.info("worker left, removing its blocks", { worker_id: formatInstanceId(workerId) });
        this.streams.forget(workerId);
        ingest.removeWorker(workerId);
      },
    });
    onStop("worker presence", () => presence.stop());
  }

  /** Workers that left while this indexer was down leave the restored index now; the watch takes it from here. */
  private async forgetDeparted(): Promise<void> {
    const { discovery, namespace, components, backend, zmq } = this.options;
    const present = await WorkerPresence.present(discovery, namespace, components);
    const configured = new Set(zmq.publishers.map((p) => p.workerId));
    for (const workerId of new Set(backend.workerBlocks().map((w) => w.workerId))) {
      if (!present.has(workerId) && !configured.has(workerId)) this.ingest.removeWorker(workerId);
    }
  }
}

/** Applied, dropped and lost events go to the metrics; losses are logged too. */
function ingestSink(metrics: IndexerMetrics, log: KvSourcesLog): IngestSink {
  return {
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
  };
}
