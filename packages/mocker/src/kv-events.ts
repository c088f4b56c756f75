// KV events of one worker: protocol messages with a per-worker monotonic event id, collected per step.
import { create, type KvEvent, KvEventSchema } from "@kvasir/protocol";
import type { BlockCacheListener } from "./block-manager.js";

export class KvEventLog {
  private pending: KvEvent[] = [];
  private nextId: bigint;

  constructor(
    private readonly workerId: bigint,
    private readonly blockSize: number,
    firstEventId: bigint,
  ) {
    this.nextId = firstEventId;
  }

  /** Turns one rank's cache changes into events: one Stored per newly cached block, one Removed per evicted one. */
  listenerFor(dpRank: number): BlockCacheListener {
    return {
      stored: (info) =>
        this.push(
          create(KvEventSchema, {
            ...this.header(dpRank),
            data: {
              case: "stored",
              value: {
                ...(info.parentSeqHash !== undefined ? { parentSeqHash: info.parentSeqHash } : {}),
                blocks: [{ localHash: info.localHash, seqHash: info.seqHash }],
                tokenIds: info.tokenIds,
                blockSize: this.blockSize,
                loraName: info.loraName,
              },
            },
          }),
        ),
      removed: (seqHash) =>
        this.push(
          create(KvEventSchema, {
            ...this.header(dpRank),
            data: { case: "removed", value: { seqHashes: [seqHash] } },
          }),
        ),
    };
  }

  cleared(dpRank: number): void {
    this.push(create(KvEventSchema, { ...this.header(dpRank), data: { case: "cleared", value: {} } }));
  }

  /** The events since the last call, in the order they happened. */
  drain(): KvEvent[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  private header(dpRank: number) {
    return { workerId: this.workerId, dpRank, eventId: this.nextId };
  }

  private push(event: KvEvent): void {
    this.pending.push(event);
    this.nextId++;
  }
}
