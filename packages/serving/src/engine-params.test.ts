import { create, fromBinary, GenerateRequestSchema, toBinary } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import { packedUint32, type ServingRequest, toWorkerRequest } from "./engine-params.js";

const EDGES = [0, 1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, 268_435_455, 268_435_456, 4_294_967_295];

const request = (tokenIds: number[]): ServingRequest => ({
  requestId: "r-1",
  model: "m",
  tokenIds,
  params: { maxTokens: 7, stopTokenIds: [2, 3], ignoreEos: false, minTokens: 1, temperature: 0.5 },
  priority: 4,
});

describe("toWorkerRequest", () => {
  it("packs the prompt's ids as protobuf-es does, varint lengths at every boundary", () => {
    // protobuf-es's own encoding of a message holding only the ids: tag 0x1a (field 3, length-delimited), then the value.
    const reference = toBinary(GenerateRequestSchema, create(GenerateRequestSchema, { tokenIds: EDGES }));
    expect(reference[0]).toBe(0x1a);
    expect([...packedUint32(EDGES)]).toEqual([...reference.subarray(1)]);
  });

  it("decodes on the worker's side to the same request", () => {
    const ids = Array.from({ length: 9_000 }, (_, i) => (i * 7_919) % 151_936);
    const decoded = fromBinary(
      GenerateRequestSchema,
      toBinary(GenerateRequestSchema, toWorkerRequest(request(ids), 1)),
    );
    expect(decoded.tokenIds).toEqual(ids);
    expect(decoded.requestId).toBe("r-1");
    expect(decoded.dpRank).toBe(1);
    expect(decoded.priority).toBe(4);
    expect(decoded.stop?.maxTokens).toBe(7);
    expect(decoded.stop?.stopTokenIds).toEqual([2, 3]);
    expect(decoded.sampling?.temperature).toBe(0.5);
    expect(decoded.$unknown ?? []).toEqual([]);
  });

  it("sends an empty prompt as no field, as protobuf-es does", () => {
    const decoded = fromBinary(
      GenerateRequestSchema,
      toBinary(GenerateRequestSchema, toWorkerRequest(request([]), 0)),
    );
    expect(decoded.tokenIds).toEqual([]);
  });

  it("refuses ids that are not uint32", () => {
    for (const bad of [-1, 1.5, 4_294_967_296, Number.NaN])
      expect(() => packedUint32([5, bad])).toThrow(/invalid uint32/);
  });
});
