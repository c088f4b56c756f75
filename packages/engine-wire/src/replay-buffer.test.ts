import { describe, expect, it } from "vitest";
import { ReplayBuffer } from "./replay-buffer.js";

const batch = (seq: number) => ({ seq: BigInt(seq), payload: new Uint8Array([seq]) });
const seqs = (batches: { seq: bigint }[]) => batches.map((b) => Number(b.seq));

describe("ReplayBuffer", () => {
  it("keeps the last `capacity` batches in order and answers from a start seq", () => {
    const buffer = new ReplayBuffer(3);
    for (let i = 0; i < 5; i++) buffer.push(batch(i));
    expect(buffer.size).toBe(3);
    expect(seqs(buffer.since(0n))).toEqual([2, 3, 4]);
    expect(seqs(buffer.since(3n))).toEqual([3, 4]);
    expect(buffer.since(5n)).toEqual([]);
  });

  it("empties on clear and refuses a capacity below one", () => {
    const buffer = new ReplayBuffer(2);
    buffer.push(batch(0));
    buffer.clear();
    expect(buffer.since(0n)).toEqual([]);
    buffer.push(batch(7));
    expect(seqs(buffer.since(0n))).toEqual([7]);
    expect(() => new ReplayBuffer(0)).toThrow(/at least one/);
  });
});
