import { create, KvEventSchema } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import { bindsEndpoint, engineBlockHash, offsetEndpoint, toVllmEvent } from "./zmq-publisher.js";

describe("vLLM-style KV event publishing", () => {
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

  it("offsets endpoints per dp rank and binds as vLLM does", () => {
    expect(offsetEndpoint("tcp://*:5557", 2)).toBe("tcp://*:5559");
    expect(offsetEndpoint("tcp://127.0.0.1:0", 3)).toBe("tcp://127.0.0.1:0");
    expect(offsetEndpoint("inproc://kv", 1)).toBe("inproc://kv_dp1");
    expect(bindsEndpoint("tcp://*:5557")).toBe(true);
    expect(bindsEndpoint("ipc:///tmp/kv")).toBe(true);
    expect(bindsEndpoint("tcp://10.0.0.1:5557")).toBe(false);
  });
});
