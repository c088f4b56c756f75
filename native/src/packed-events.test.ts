import { computeSeqHashes, RadixIndexer } from "@kvasir/kv";
import { describe, expect, it } from "vitest";
import { NativeIndexer } from "./indexer.js";
import { EVENT_HEADER_BYTES, EVENT_KIND, PackedEventWriter } from "./packed-events.js";
import { removedAt, storedRange } from "./test-events.js";

function records(packed: Uint8Array): { kind: number; count: number; eventId: bigint }[] {
  const v = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  const out: { kind: number; count: number; eventId: bigint }[] = [];
  for (let o = 0; o < packed.byteLength; ) {
    const kind = v.getUint8(o);
    const count = v.getUint32(o + 32, true);
    out.push({ kind, count, eventId: v.getBigUint64(o + 16, true) });
    o += EVENT_HEADER_BYTES + count * (kind === EVENT_KIND.stored ? 16 : kind === EVENT_KIND.removed ? 8 : 0);
  }
  return out;
}

const local = BigUint64Array.of(11n, 12n, 13n, 14n);
const seq = computeSeqHashes(local);
const stored = (workerId: bigint, eventId: bigint, from: number, to: number) =>
  storedRange({ local, seq }, workerId, eventId, from, to);
const removed = (workerId: bigint, eventId: bigint, i: number) => removedAt({ seq }, workerId, eventId, i);

describe("PackedEventWriter", () => {
  it("merges chained stores and consecutive removals of one worker into single records", () => {
    const events = [
      stored(1n, 1n, 0, 1),
      stored(1n, 2n, 1, 2),
      stored(1n, 3n, 2, 4),
      stored(2n, 1n, 0, 2),
      // Another worker came in between: a new record.
      stored(1n, 4n, 0, 1),
      removed(1n, 5n, 3),
      removed(1n, 6n, 2),
      removed(2n, 2n, 1),
    ];
    const w = new PackedEventWriter();
    for (const ev of events) w.push(ev);
    expect(w.events).toBe(events.length);
    const packed = w.take();
    expect(records(packed)).toEqual([
      { kind: EVENT_KIND.stored, count: 4, eventId: 3n },
      { kind: EVENT_KIND.stored, count: 2, eventId: 1n },
      { kind: EVENT_KIND.stored, count: 1, eventId: 4n },
      { kind: EVENT_KIND.removed, count: 2, eventId: 6n },
      { kind: EVENT_KIND.removed, count: 1, eventId: 2n },
    ]);
    const ref = new RadixIndexer();
    for (const ev of events) ref.applyEvent(ev);
    const nat = NativeIndexer.create();
    nat.applyPacked(packed);
    nat.flush();
    const key = (ms: { workerId: bigint; matchedBlocks: number }[]) =>
      ms.map((m) => `${m.workerId}:${m.matchedBlocks}`).sort();
    expect(key(nat.findMatches(local))).toEqual(key(ref.findMatches(local)));
    expect(nat.lastEventId(1n)).toBe(6n);
  });

  it("does not chain a store whose parent is not the previous record's last block", () => {
    const w = new PackedEventWriter();
    w.push(stored(1n, 1n, 0, 2));
    w.push(stored(1n, 2n, 3, 4));
    expect(records(w.take()).map((r) => r.count)).toEqual([2, 1]);
  });
});
