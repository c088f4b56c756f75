// A worker relaying its engine's ZMQ KV events to the event plane: one stream handler per dp rank decodes the
// engine's batches with @kvasir/kv's lenient decoder (our hashes recomputed from token_ids) into kvasir.events.v1
// events stamped with the worker's id, numbered on one counter per worker as the indexer expects.
import { DROP_REASONS, EngineEventDecoder, type KvCacheEvent, toProtoKvEvent } from "@kvasir/kv";
import type { KvEvent } from "@kvasir/protocol";
import type { ZmqDropReason, ZmqStreamHandler } from "./subscriber.js";

export interface EngineEventRelayOptions {
  workerId: bigint;
  /** Events in order, ready to publish. */
  emit(events: KvEvent[]): void;
  /** Batches, frames or events dropped, by reason. */
  dropped(reason: string, count: number): void;
}

/** The worker's side: hands out one handler per dp rank, sharing the worker's event id counter. */
export class EngineEventRelay {
  private nextEventId = 0n;

  constructor(private readonly options: EngineEventRelayOptions) {}

  /** The handler of the stream that dp rank `dpRank` publishes on (batches without a rank are that rank's). */
  handler(dpRank: number): ZmqStreamHandler {
    const decoder = new EngineEventDecoder({ workerId: this.options.workerId, defaultDpRank: dpRank });
    const reported = new Map<string, number>();
    const reportDrops = (record: boolean) => {
      for (const reason of DROP_REASONS) {
        const total = decoder.drops[reason];
        const delta = total - (reported.get(reason) ?? 0);
        if (delta <= 0) continue;
        reported.set(reason, total);
        if (record) this.options.dropped(reason, delta);
      }
    };
    return {
      batch: (_seq, payload) => {
        this.forward(decoder.decodeBatch(payload));
        reportDrops(true);
      },
      // Replayed batches already relayed teach the decoder engine-hash names only.
      learn: (_seq, payload) => {
        decoder.decodeBatch(payload);
        reportDrops(false);
      },
      restart: () => this.forward(decoder.engineRestarted(dpRank)),
      dropped: (reason: ZmqDropReason, count) => this.options.dropped(reason, count),
    };
  }

  private forward(events: KvCacheEvent[]): void {
    if (events.length === 0) return;
    const out = events.map((event) => toProtoKvEvent({ ...event, eventId: this.nextEventId++ }));
    this.options.emit(out);
  }
}
