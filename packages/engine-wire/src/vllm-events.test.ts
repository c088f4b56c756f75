import { EngineEventDecoder } from "@kvasir/kv";
import { create, KvEventSchema } from "@kvasir/protocol";
import { decode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import { encodeEventBatch, engineBlockHash, toVllmEvent, vllmBlockStored } from "./vllm-events.js";

describe("vLLM KV event encoding", () => {
  it("names blocks with engine hashes that differ from Kvasir's and stay distinct", () => {
    const seqHashes = [0n, 1n, 2n, 0xffff_ffff_ffff_ffffn, 123456789n];
    const names = seqHashes.map(engineBlockHash);
    expect(new Set(names).size).toBe(seqHashes.length);
    names.forEach((name, i) => {
      expect(name).not.toBe(seqHashes[i]);
      expect(name >= 0n && name < 1n << 64n).toBe(true);
    });
  });

  it("maps a Stored event to vLLM's map layout with the parent's engine hash", () => {
    const event = create(KvEventSchema, {
      workerId: 9n,
      dpRank: 1,
      eventId: 4n,
      data: {
        case: "stored",
        value: {
          parentSeqHash: 77n,
          blocks: [{ localHash: 1n, seqHash: 2n }],
          tokenIds: [1, 2, 3, 4],
          blockSize: 4,
          loraName: "",
        },
      },
    });
    const mapped = toVllmEvent(event);
    expect(mapped).toMatchObject({
      type: "BlockStored",
      token_ids: [1, 2, 3, 4],
      block_size: 4,
      lora_name: null,
      medium: "GPU",
      group_idx: 0,
    });
    const hashes = (mapped?.block_hashes as (number | bigint)[]).map(BigInt);
    expect(hashes).toEqual([engineBlockHash(2n)]);
    expect(BigInt(mapped?.parent_block_hash as number | bigint)).toBe(engineBlockHash(77n));
  });

  it("maps Removed and Cleared", () => {
    const removed = create(KvEventSchema, { data: { case: "removed", value: { seqHashes: [5n] } } });
    const cleared = create(KvEventSchema, { data: { case: "cleared", value: {} } });
    expect((toVllmEvent(removed)?.block_hashes as (number | bigint)[]).map(BigInt)).toEqual([
      engineBlockHash(5n),
    ]);
    expect(toVllmEvent(cleared)).toEqual({ type: "AllBlocksCleared" });
  });

  it("encodes batches the lenient decoder reads back, u64 hashes included", () => {
    const big = 0xffff_ffff_ffff_fff0n;
    const payload = encodeEventBatch([vllmBlockStored([1, 2, 3, 4], 4, [big])], 2, 1_500);
    const [ts, events, rank] = decode(payload, { useBigInt64: true }) as [number, unknown[], number];
    expect(ts).toBe(1.5);
    expect(rank).toBe(2);
    expect(events).toHaveLength(1);
    const decoded = new EngineEventDecoder({ workerId: 1n }).decodeBatch(payload);
    expect(decoded).toHaveLength(1);
    expect(decoded[0]?.data.kind).toBe("stored");
    expect(decoded[0]?.dpRank).toBe(2);
  });
});
