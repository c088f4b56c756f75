/**
 * Sequence numbers of one ZMQ publisher. vLLM counts batches from 0 per process, so a higher seq than expected
 * means lost batches (replay them), and a lower one means the engine restarted (forget its blocks). Live
 * batches that arrive while a replay is in flight repeat what the replay delivered; they are duplicates, not
 * a restart, which is why the tracker remembers where the last replay started.
 */
export type SeqVerdict = "next" | "gap" | "duplicate" | "restart";

export class SeqTracker {
  private last: bigint;
  private replayFloor: bigint | undefined;

  /** `watermark`: the last seq already applied (from a snapshot); none means nothing seen yet. */
  constructor(watermark?: bigint) {
    this.last = watermark ?? -1n;
  }

  /** Last applied seq, −1 before the first. */
  get lastSeq(): bigint {
    return this.last;
  }

  get nextSeq(): bigint {
    return this.last + 1n;
  }

  classify(seq: bigint): SeqVerdict {
    if (seq === this.last + 1n) return "next";
    if (seq > this.last + 1n) return "gap";
    if (this.replayFloor !== undefined && seq > this.replayFloor) return "duplicate";
    return "restart";
  }

  /** Call before applying replayed batches: live seqs between here and the replay's end are duplicates. */
  replayStarting(): void {
    this.replayFloor ??= this.last;
  }

  /** Records an applied batch. A live batch past everything replayed ends the duplicate window. */
  applied(seq: bigint, live: boolean): void {
    if (seq > this.last) this.last = seq;
    if (live) this.replayFloor = undefined;
  }

  /** The publisher restarted: its count begins again at 0. */
  reset(): void {
    this.last = -1n;
    this.replayFloor = undefined;
  }
}
