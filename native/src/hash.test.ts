import { computeBlockHashes, hashSeed as kvHashSeed, xxh3_64 as kvXxh3 } from "@kvasir/kv";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { hashBlocks, hashSeed, xxh3_64 } from "./hash.js";

describe("native hashing", () => {
  it("xxh3_64 equals the TypeScript one for every length class and seed", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 2100 }),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        (data, seed) => {
          expect(xxh3_64(data, seed)).toBe(kvXxh3(data, seed));
        },
      ),
      { numRuns: 400 },
    );
    for (const len of [0, 1, 3, 4, 8, 9, 16, 17, 128, 129, 240, 241, 1024, 1025, 2048, 4096]) {
      const data = Uint8Array.from({ length: len }, (_, i) => (i * 31 + 7) & 0xff);
      expect(xxh3_64(data, 1337n)).toBe(kvXxh3(data, 1337n));
    }
  });

  it("hashBlocks equals computeBlockHashes, with and without LoRA and salt", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 400 }),
        fc.integer({ min: 1, max: 80 }),
        fc.option(fc.string(), { nil: undefined }),
        fc.option(fc.string(), { nil: undefined }),
        (tokens, blockSize, loraName, cacheSalt) => {
          const opts = { loraName, cacheSalt };
          const want = computeBlockHashes(tokens, blockSize, opts);
          const got = hashBlocks(Uint32Array.from(tokens), blockSize, opts);
          expect(got.local).toEqual(want.local);
          expect(got.seq).toEqual(want.seq);
          expect(hashSeed(opts)).toBe(kvHashSeed(opts));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("rejects a bad block size", () => {
    expect(() => hashBlocks(new Uint32Array(4), 0)).toThrow(RangeError);
  });
});
