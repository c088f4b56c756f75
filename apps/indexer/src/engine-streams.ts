import { type StreamLog, ZmqKvStream } from "@kvasir/engine-wire";
import { formatInstanceId } from "@kvasir/runtime";
import type { KvIngest } from "./ingest.js";
import { advertisedStreams } from "./zmq-discovery.js";
import { ZmqWorkerFeed } from "./zmq-feed.js";

/** One engine publishing vLLM/SGLang KV events over ZMQ, and the worker its blocks belong to. */
export interface ZmqPublisherConfig {
  endpoint: string;
  replayEndpoint?: string;
  workerId: bigint;
}

export interface EngineStreamsOptions {
  ingest: KvIngest;
  topic: string;
  replayTimeoutMs: number;
  /** Last seq applied per endpoint, from a restored snapshot. */
  watermarks: ReadonlyMap<string, bigint>;
  /** Batches or frames dropped, by reason (for the metrics). */
  dropped: (reason: string, count: number) => void;
  /** After each batch applied (drives snapshots). */
  applied: () => void;
  log: StreamLog;
}

interface Entry {
  stream: ZmqKvStream;
  workerId: bigint;
  /** Found in a worker's discovery record rather than configured: it goes when the worker goes. */
  discovered: boolean;
}

/**
 * The engines' ZMQ KV event streams, by endpoint: the configured ones, and those workers advertise in discovery.
 * Every stream made is closed by close(), started or not.
 */
export class EngineStreams {
  private readonly streams = new Map<string, Entry>();

  constructor(private readonly options: EngineStreamsOptions) {}

  /** Subscribes to the configured publishers, replaying what each engine still buffers. */
  async startConfigured(publishers: readonly ZmqPublisherConfig[]): Promise<void> {
    const started = await Promise.allSettled(
      publishers.map((p) =>
        this.open(p, false)
          .start()
          .catch((error: unknown) => {
            const reason = error instanceof Error ? error.message : String(error);
            throw new Error(`cannot subscribe to ZMQ KV events at ${p.endpoint}: ${reason}`);
          }),
      ),
    );
    // Every start has settled before failing, so close() never races a socket still binding.
    for (const result of started) if (result.status === "rejected") throw result.reason;
  }

  /** Subscribes to the streams a worker's discovery record advertises, unless already subscribed. */
  follow(workerId: bigint, record: unknown): void {
    const { log } = this.options;
    for (const advertised of advertisedStreams(record)) {
      if (this.streams.has(advertised.endpoint)) continue;
      const worker_id = formatInstanceId(workerId);
      const stream = this.open({ ...advertised, workerId }, true);
      stream.start().then(
        () => log.info("subscribed to advertised zmq stream", { worker_id, ...advertised }),
        (error: unknown) => {
          void this.drop(stream);
          log.warn("cannot subscribe to advertised zmq stream", { ...advertised, error: String(error) });
        },
      );
    }
  }

  /** Closes the discovered streams of a worker that left discovery. */
  forget(workerId: bigint): void {
    for (const entry of this.streams.values()) {
      if (entry.workerId === workerId && entry.discovered) void this.drop(entry.stream);
    }
  }

  /** Last applied seq per endpoint, for streams that applied any: the watermarks to snapshot. */
  seqWatermarks(): Map<string, bigint> {
    const seqs = new Map<string, bigint>();
    for (const { stream } of this.streams.values())
      if (stream.lastSeq >= 0n) seqs.set(stream.endpoint, stream.lastSeq);
    return seqs;
  }

  async close(): Promise<void> {
    const entries = [...this.streams.values()];
    this.streams.clear();
    await Promise.all(entries.map(({ stream }) => stream.close()));
  }

  private open(publisher: ZmqPublisherConfig, discovered: boolean): ZmqKvStream {
    const { ingest, applied, log } = this.options;
    const feed = new ZmqWorkerFeed(publisher.workerId, ingest, this.options.dropped);
    const watermark = this.options.watermarks.get(publisher.endpoint);
    const stream = new ZmqKvStream(
      {
        endpoint: publisher.endpoint,
        ...(publisher.replayEndpoint ? { replayEndpoint: publisher.replayEndpoint } : {}),
        topic: this.options.topic,
        replayTimeoutMs: this.options.replayTimeoutMs,
        ...(watermark === undefined ? {} : { watermark }),
      },
      {
        batch: (seq, payload) => {
          feed.batch(seq, payload);
          applied();
        },
        learn: (seq, payload) => feed.learn(seq, payload),
        restart: () => feed.restart(),
        dropped: (reason, count) => feed.dropped(reason, count),
      },
      log,
    );
    this.streams.set(publisher.endpoint, { stream, workerId: publisher.workerId, discovered });
    return stream;
  }

  /** Closes one stream and forgets it; one no longer held here was closed already. */
  private async drop(stream: ZmqKvStream): Promise<void> {
    if (this.streams.get(stream.endpoint)?.stream !== stream) return;
    this.streams.delete(stream.endpoint);
    await stream.close();
  }
}
