// KV events of one worker: protocol messages with a per-worker monotonic event id, collected per step.
import { create, type KvEvent, KvEventSchema, StoredBlockSchema } from "@kvasir/protocol";
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

  /**
   * Turns one rank's cache changes into events. A block that extends the chain of the last pending Stored event
   * (same rank, its parent that event's last block) joins it, and consecutive evictions share one Removed event:
   * the shape vLLM publishes (a BlockStored of a step's blocks), and one event per request's prefill instead of one
   * per block (an 8,000-token prompt made 500 messages before).
   */
  listenerFor(dpRank: number): BlockCacheListener {
    return {
      stored: (info) => {
        const last = this.pending.at(-1);
        if (last?.dpRank === dpRank && last.data.case === "stored") {
          const stored = last.data.value;
          if (stored.blocks.at(-1)?.seqHash === info.parentSeqHash && stored.loraName === info.loraName) {
            stored.blocks.push(
              create(StoredBlockSchema, { localHash: info.localHash, seqHash: info.seqHash }),
            );
            for (const id of info.tokenIds) stored.tokenIds.push(id);
            return;
          }
        }
        this.push(
          create(KvEventSchema, {
            ...this.header(dpRank),
            data: {
              case: "stored",
              value: {
                ...(info.parentSeqHash !== undefined ? { parentSeqHash: info.parentSeqHash } : {}),
                blocks: [{ localHash: info.localHash, seqHash: info.seqHash }],
                tokenIds: [...info.tokenIds],
                blockSize: this.blockSize,
                loraName: info.loraName,
              },
            },
          }),
        );
      },
      removed: (seqHash) => {
        const last = this.pending.at(-1);
        if (last?.dpRank === dpRank && last.data.case === "removed") {
          last.data.value.seqHashes.push(seqHash);
          return;
        }
        this.push(
          create(KvEventSchema, {
            ...this.header(dpRank),
            data: { case: "removed", value: { seqHashes: [seqHash] } },
          }),
        );
      },
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
