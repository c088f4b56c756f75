import { decodeKvEventBatch, type KvCacheEvent, type KvIndexer } from "@kvasir/kv";

/** Why an event or batch was not applied; the label of dynamo_kvindexer_events_dropped_total. */
export type IngestDropReason = "malformed_batch" | "stale_event" | "event_id_gap" | "apply_failed";

export interface IngestSink {
  applied(event: KvCacheEvent): void;
  dropped(reason: string, count: number): void;
  /** Missing event_ids of a worker: the events between `from` and `to` (exclusive) never arrived. */
  gap(workerId: bigint, from: bigint, to: bigint): void;
}

/**
 * Applies KV events to an index and keeps, per worker, the last event_id applied from the event plane. The
 * event_id is per-worker monotonic, so an event at or below the watermark is a repeat (e.g. redelivered after a
 * restart from a snapshot) and a jump past watermark + 1 means events were lost on the way.
 */
export class KvIngest {
  private readonly lastEventIds: Map<bigint, bigint>;
  private applied = 0;

  constructor(
    private readonly index: KvIndexer,
    private readonly sink: IngestSink,
    watermarks: ReadonlyMap<bigint, bigint> = new Map(),
  ) {
    this.lastEventIds = new Map(watermarks);
  }

  /** Events applied since this ingest was made (drives snapshot scheduling). */
  get appliedEvents(): number {
    return this.applied;
  }

  /** Last event_id applied per worker from the event plane. */
  get eventIdWatermarks(): ReadonlyMap<bigint, bigint> {
    return this.lastEventIds;
  }

  /** One binary KvEventBatch from the event plane. Never throws. */
  applyPlaneBatch(bytes: Uint8Array): void {
    const events = decodeKvEventBatch(bytes);
    if (events === undefined) {
      this.sink.dropped("malformed_batch", 1);
      return;
    }
    for (const event of events) {
      const last = this.lastEventIds.get(event.workerId);
      if (last !== undefined && event.eventId <= last) {
        this.sink.dropped("stale_event", 1);
        continue;
      }
      if (last !== undefined && event.eventId > last + 1n) {
        this.sink.gap(event.workerId, last + 1n, event.eventId);
        this.sink.dropped("event_id_gap", Number(event.eventId - last - 1n));
      }
      this.lastEventIds.set(event.workerId, event.eventId);
      this.apply(event);
    }
  }

  /** Events already normalized elsewhere (the ZMQ decoders), which carry no event-plane watermark. */
  applyEvents(events: readonly KvCacheEvent[]): void {
    for (const event of events) this.apply(event);
  }

  removeWorker(workerId: bigint): void {
    this.index.removeWorker(workerId);
    this.lastEventIds.delete(workerId);
  }

  private apply(event: KvCacheEvent): void {
    try {
      this.index.applyEvent(event);
    } catch {
      // An index that rejects an event must not take the consumer down with it.
      this.sink.dropped("apply_failed", 1);
      return;
    }
    this.applied++;
    this.sink.applied(event);
  }
}
