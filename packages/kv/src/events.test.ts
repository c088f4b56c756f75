import { create, KvEventSchema } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import {
  decodeKvEventBatch,
  encodeKvEventBatch,
  fromProtoKvEvent,
  type KvCacheEvent,
  storedFromTokens,
  toProtoKvEvent,
} from "./events.js";
import { computeBlockHashes, nextSeqHash } from "./hash.js";

const tokens = Array.from({ length: 40 }, (_, i) => i + 7);

describe("storedFromTokens", () => {
  it("hashes the full blocks and keeps their tokens", () => {
    const s = storedFromTokens(tokens, 16, { loraName: "x" });
    const ref = computeBlockHashes(tokens, 16, { loraName: "x" });
    expect(s.localHashes).toEqual(ref.local);
    expect(s.seqHashes).toEqual(ref.seq);
    expect(s.tokenIds.length).toBe(32);
    expect(s.loraName).toBe("x");
    expect(s.parentSeqHash).toBeUndefined();
  });

  it("continues a chain from a parent sequence hash", () => {
    const whole = computeBlockHashes(tokens, 8);
    const tail = storedFromTokens(tokens.slice(16), 8, { parentSeqHash: whole.seq[1] as bigint });
    expect(tail.parentSeqHash).toBe(whole.seq[1]);
    expect([...tail.seqHashes]).toEqual([...whole.seq.slice(2)]);
    expect(tail.seqHashes[0]).toBe(nextSeqHash(whole.seq[1], whole.local[2] as bigint));
  });
});

describe("protocol conversion", () => {
  const events: KvCacheEvent[] = [
    { workerId: 0xffffffffffffffffn, dpRank: 3, eventId: 1n, data: storedFromTokens(tokens, 16) },
    {
      workerId: 5n,
      dpRank: 0,
      eventId: 2n,
      data: storedFromTokens(tokens, 4, { parentSeqHash: 99n, loraName: "lora" }),
    },
    { workerId: 5n, dpRank: 0, eventId: 3n, data: { kind: "removed", seqHashes: BigUint64Array.of(1n, 2n) } },
    { workerId: 5n, dpRank: 1, eventId: 4n, data: { kind: "cleared" } },
  ];

  it("round-trips every event kind through protobuf binary", () => {
    expect(decodeKvEventBatch(encodeKvEventBatch(events))).toEqual(events);
  });

  it("maps fields onto the protocol message", () => {
    const msg = toProtoKvEvent(events[1] as KvCacheEvent);
    expect(msg.data.case).toBe("stored");
    if (msg.data.case !== "stored") return;
    expect(msg.data.value.parentSeqHash).toBe(99n);
    expect(msg.data.value.blocks.length).toBe(10);
    expect(msg.data.value.loraName).toBe("lora");
  });

  it("skips events without data and rejects garbage without throwing", () => {
    expect(fromProtoKvEvent(create(KvEventSchema, { workerId: 1n }))).toBeUndefined();
    expect(decodeKvEventBatch(Uint8Array.of(0xff, 0xff, 0xff))).toBeUndefined();
  });
});
