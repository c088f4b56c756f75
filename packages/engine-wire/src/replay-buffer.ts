import type { SeqBatch } from "./frames.js";

/** The most recent batches of one publisher, kept for replay (vLLM's `buffer_steps`): a fixed-size ring. */
export class ReplayBuffer {
  private readonly slots: (SeqBatch | undefined)[];
  private start = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`the replay buffer holds at least one batch, got ${capacity}`);
    }
    this.slots = new Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Keeps a batch, dropping the oldest when full. Seqs are expected to rise. */
  push(batch: SeqBatch): void {
    const end = (this.start + this.count) % this.capacity;
    this.slots[end] = batch;
    if (this.count < this.capacity) this.count++;
    else this.start = (this.start + 1) % this.capacity;
  }

  /** The kept batches with seq ≥ `from`, oldest first (a copy: sends may interleave with new pushes). */
  since(from: bigint): SeqBatch[] {
    const out: SeqBatch[] = [];
    for (let i = 0; i < this.count; i++) {
      const batch = this.slots[(this.start + i) % this.capacity];
      if (batch && batch.seq >= from) out.push(batch);
    }
    return out;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.start = 0;
    this.count = 0;
  }
}
