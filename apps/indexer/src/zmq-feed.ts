import type { ZmqDropReason, ZmqStreamHandler } from "@kvasir/engine-wire";
import { DROP_REASONS, EngineEventDecoder } from "@kvasir/kv";
import type { KvIngest } from "./ingest.js";

/**
 * Feeds one engine's ZMQ batches into the index as one worker: the kv package's lenient decoder recomputes our
 * hashes from token_ids, keeps the engine-hash map that resolves removals, and counts what it drops.
 */
export class ZmqWorkerFeed implements ZmqStreamHandler {
  private readonly decoder: EngineEventDecoder;
  // The decoder's drop counts are running totals; remember what was reported already.
  private readonly reported = new Map<string, number>();

  constructor(
    readonly workerId: bigint,
    private readonly ingest: KvIngest,
    private readonly onDrop: (reason: string, count: number) => void,
  ) {
    this.decoder = new EngineEventDecoder({ workerId });
  }

  batch(_seq: bigint, payload: Uint8Array): void {
    this.ingest.applyEvents(this.decoder.decodeBatch(payload));
    this.reportDecoderDrops();
  }

  learn(_seq: bigint, payload: Uint8Array): void {
    this.decoder.decodeBatch(payload);
    // What the decoder drops here was counted when the batch was first applied.
    this.markDecoderDropsReported();
  }

  restart(): void {
    this.ingest.applyEvents(this.decoder.engineRestarted());
  }

  dropped(reason: ZmqDropReason, count: number): void {
    this.onDrop(reason, count);
  }

  private markDecoderDropsReported(): void {
    for (const reason of DROP_REASONS) this.reported.set(reason, this.decoder.drops[reason]);
  }

  private reportDecoderDrops(): void {
    const totals = this.decoder.drops;
    for (const reason of DROP_REASONS) {
      const total = totals[reason];
      const delta = total - (this.reported.get(reason) ?? 0);
      if (delta > 0) {
        this.reported.set(reason, total);
        this.onDrop(reason, delta);
      }
    }
  }
}
