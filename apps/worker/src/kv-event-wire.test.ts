import {
  create,
  fromBinary,
  type KvEvent,
  KvEventBatchSchema,
  KvEventSchema,
  toBinary,
} from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import { encodeKvEventBatch } from "./kv-event-wire.js";

const MAX64 = 2n ** 64n - 1n;

function events(): KvEvent[] {
  const stored = (i: number, extra: object) =>
    create(KvEventSchema, {
      workerId: 0x1234_5678_9abc_def0n,
      dpRank: i % 3,
      eventId: BigInt(i),
      data: {
        case: "stored",
        value: {
          blocks: [
            { localHash: (BigInt(i) * 0x9e37_79b9_7f4a_7c15n) % 2n ** 64n, seqHash: MAX64 - BigInt(i) },
          ],
          tokenIds: Array.from({ length: 16 }, (_, k) => (i * 7_919 + k * 131_071) % 4_294_967_296),
          blockSize: 16,
          ...extra,
        },
      },
    });
  return [
    stored(0, {}),
    stored(1, { parentSeqHash: 0n }),
    stored(2, { parentSeqHash: MAX64, loraName: "adapter-ü" }),
    stored(3, {
      tokenIds: [],
      blockSize: 0,
      blocks: [
        { localHash: 0n, seqHash: 0n },
        { localHash: 1n, seqHash: 128n },
      ],
    }),
    create(KvEventSchema, {
      workerId: 7n,
      eventId: 4n,
      data: { case: "removed", value: { seqHashes: [1n, 2n ** 35n, MAX64] } },
    }),
    create(KvEventSchema, { workerId: 7n, eventId: 5n, data: { case: "removed", value: { seqHashes: [] } } }),
    create(KvEventSchema, { workerId: 7n, dpRank: 1, eventId: 6n, data: { case: "cleared", value: {} } }),
    create(KvEventSchema, {}),
  ];
}

describe("encodeKvEventBatch", () => {
  it("writes the bytes protobuf-es writes", () => {
    const batch = events();
    const reference = toBinary(KvEventBatchSchema, create(KvEventBatchSchema, { events: batch }));
    expect([...encodeKvEventBatch(batch)]).toEqual([...reference]);
    expect(fromBinary(KvEventBatchSchema, encodeKvEventBatch(batch)).events).toEqual(batch);
  });

  it("refuses what protobuf-es refuses", () => {
    const bad = (value: object) =>
      create(KvEventSchema, { data: { case: "stored", value: { blocks: [], tokenIds: [], ...value } } });
    expect(() => encodeKvEventBatch([bad({ parentSeqHash: 2n ** 64n })])).toThrow(/invalid uint64/);
    expect(() => encodeKvEventBatch([bad({ tokenIds: [1, -1] })])).toThrow(/invalid uint32/);
  });

  it("writes an empty batch as no bytes", () => {
    expect(encodeKvEventBatch([]).length).toBe(0);
  });
});
