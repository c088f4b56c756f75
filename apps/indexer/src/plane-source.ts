import { type EventPlane, kvEventsSubject, type Subscription } from "@kvasir/runtime";
import { JetStreamKvSource, kvEventsStreamName, type SourceLog } from "./jetstream-source.js";

export interface PlaneSourceOptions {
  events: EventPlane;
  namespace: string;
  /** Worker components whose KV events are taken. */
  components: ReadonlySet<string>;
  /** Read through a JetStream stream on these NATS servers instead of core subscriptions. */
  jetStream?: { natsServers: string; maxAgeSeconds: number; afterSeq?: bigint };
  /** One binary KvEventBatch of a watched component. */
  onBatch: (data: Uint8Array) => void;
  log: SourceLog;
}

/**
 * The event-plane KV events of the watched components: core subscriptions, or a JetStream stream from which a
 * restarted indexer replays what it missed.
 */
export class PlaneSource {
  private readonly subjects: Set<string>;
  private subscriptions: Subscription[] = [];
  private jetStream: JetStreamKvSource | undefined;

  constructor(private readonly options: PlaneSourceOptions) {
    this.subjects = new Set([...options.components].map((c) => kvEventsSubject(options.namespace, c)));
  }

  async start(): Promise<void> {
    const { jetStream, onBatch } = this.options;
    if (!jetStream) {
      this.subscriptions = [...this.subjects].map((subject) =>
        this.options.events.subscribe(subject, (message) => onBatch(message.data)),
      );
      return;
    }
    this.jetStream = await JetStreamKvSource.open(
      {
        natsServers: jetStream.natsServers,
        stream: kvEventsStreamName(this.options.namespace),
        subject: kvEventsSubject(this.options.namespace, "*"),
        maxAgeSeconds: jetStream.maxAgeSeconds,
        ...(jetStream.afterSeq === undefined ? {} : { afterSeq: jetStream.afterSeq }),
      },
      // The stream keeps every component's events; take the watched components' only.
      (subject, data) => {
        if (this.subjects.has(subject)) onBatch(data);
      },
      this.options.log,
    );
  }

  /**
   * The JetStream sequence applied so far, for a snapshot; the restored one while the stream is still opening,
   * so a snapshot taken then does not lose its place. Undefined without JetStream.
   */
  get jetStreamSeq(): bigint | undefined {
    if (!this.options.jetStream) return undefined;
    return this.jetStream?.lastSeq ?? this.options.jetStream.afterSeq;
  }

  async close(): Promise<void> {
    for (const subscription of this.subscriptions.splice(0)) subscription.unsubscribe();
    await this.jetStream?.close();
  }
}
