import { describe, expect, it } from "vitest";
import { watermarksFromJson, watermarksToJson } from "./snapshot-store.js";

describe("snapshot watermarks", () => {
  it("round-trip u64 event ids and ZMQ seqs through JSON", () => {
    const watermarks = {
      eventIds: new Map([[0xffff_ffff_ffff_fffen, 12n]]),
      zmqSeqs: new Map([["tcp://127.0.0.1:5557", 9_007_199_254_740_993n]]),
      jetStreamSeq: 42n,
    };
    expect(watermarksFromJson(watermarksToJson(watermarks))).toEqual(watermarks);
  });
});
