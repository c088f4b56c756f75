import { connect, consumerOpts, type JetStreamManager, type NatsConnection, nanos, StorageType } from "nats";

export interface JetStreamSourceOptions {
  natsServers: string;
  /** Stream holding the KV event subject; created, or extended to cover it, when needed. */
  stream: string;
  /** One subject, wildcards allowed (`kvasir.{ns}.*.kv_events`); it is also the consumer's filter. */
  subject: string;
  maxAgeSeconds: number;
  /** Last stream sequence already applied (from a snapshot); delivery starts right after it. */
  afterSeq?: bigint;
}

export interface SourceLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/** A JetStream stream name for a namespace's KV events (names may not hold `.`, `*`, `>` or whitespace). */
export function kvEventsStreamName(namespace: string): string {
  return `KVASIR_KV_EVENTS_${namespace.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

async function ensureStream(jsm: JetStreamManager, options: JetStreamSourceOptions): Promise<void> {
  const existing = await jsm.streams.info(options.stream).catch(() => undefined);
  if (!existing) {
    await jsm.streams.add({
      name: options.stream,
      subjects: [options.subject],
      storage: StorageType.File,
      max_age: nanos(options.maxAgeSeconds * 1000),
    });
    return;
  }
  if (existing.config.subjects.includes(options.subject)) return;
  await jsm.streams.update(options.stream, { subjects: [...existing.config.subjects, options.subject] });
}

/**
 * Event-plane KV events read through a JetStream stream instead of core subscriptions. Workers keep publishing
 * on core NATS subjects; the stream stores what is published on them, so an indexer restarted from a snapshot
 * asks for everything after the snapshot's stream sequence and loses nothing while it was down.
 */
export class JetStreamKvSource {
  private last: bigint;
  private loop: Promise<void> | undefined;
  private stopConsuming: (() => void) | undefined;

  private constructor(
    private readonly connection: NatsConnection,
    afterSeq: bigint | undefined,
  ) {
    this.last = afterSeq ?? 0n;
  }

  static async open(
    options: JetStreamSourceOptions,
    onBatch: (subject: string, data: Uint8Array) => void,
    log: SourceLog,
  ): Promise<JetStreamKvSource> {
    const servers = options.natsServers.split(",").map((s) => s.trim());
    const connection = await connect({ servers, name: "kvasir-indexer-jetstream", maxReconnectAttempts: -1 });
    try {
      await ensureStream(await connection.jetstreamManager(), options);
      const source = new JetStreamKvSource(connection, options.afterSeq);
      // An ordered push consumer: the server re-creates it from the last sequence seen if messages go missing.
      // (Pull consumers with filter lists need nats-server 2.10; this works from 2.9.)
      const opts = consumerOpts();
      opts.orderedConsumer();
      if (options.afterSeq === undefined) opts.deliverAll();
      else opts.startSequence(Number(options.afterSeq + 1n));
      const subscription = await connection.jetstream().subscribe(options.subject, opts);
      source.stopConsuming = () => subscription.unsubscribe();
      source.loop = (async () => {
        for await (const message of subscription) {
          // Before applying: a snapshot taken while applying must name this message as done.
          source.last = BigInt(message.seq);
          onBatch(message.subject, message.data);
        }
      })().catch((error: unknown) => log.warn("jetstream consumer stopped", { error: String(error) }));
      log.info("consuming kv events from jetstream", {
        stream: options.stream,
        after_seq: options.afterSeq?.toString() ?? "none",
      });
      return source;
    } catch (error) {
      await connection.close();
      throw error;
    }
  }

  /** Stream sequence of the last batch applied: the watermark to snapshot. */
  get lastSeq(): bigint {
    return this.last;
  }

  async close(): Promise<void> {
    this.stopConsuming?.();
    await this.loop;
    await this.connection.drain().catch(() => this.connection.close());
  }
}
