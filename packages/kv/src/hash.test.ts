import { xxhash3 } from "hash-wasm";
import { describe, expect, it } from "vitest";
import {
  computeBlockHashes,
  computeLocalHashes,
  computeSeqHashes,
  hashSeed,
  KV_HASH_SEED,
  nextSeqHash,
  xxh3_64,
} from "./hash.js";

const U64 = 0xffffffffffffffffn;
const utf8 = new TextEncoder();

/** Independent XXH3-64 (hash-wasm, WebAssembly build of the reference C code). */
async function refXxh3(data: Uint8Array, seed = 0n): Promise<bigint> {
  const hex = await xxhash3(data, Number(seed & 0xffffffffn), Number(seed >> 32n));
  return BigInt(`0x${hex}`);
}

function le32(tokens: number[]): Uint8Array {
  const out = new Uint8Array(tokens.length * 4);
  const v = new DataView(out.buffer);
  for (const [i, t] of tokens.entries()) v.setUint32(i * 4, t, true);
  return out;
}

function le64Pair(a: bigint, b: bigint): Uint8Array {
  const out = new Uint8Array(16);
  const v = new DataView(out.buffer);
  v.setBigUint64(0, a, true);
  v.setBigUint64(8, b, true);
  return out;
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function bytes(len: number, seed: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = seed | 1;
  for (let i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const hex = (x: bigint) => `0x${x.toString(16).padStart(16, "0")}`;

describe("xxh3_64 against hash-wasm", () => {
  const seeds = [
    0n,
    1n,
    KV_HASH_SEED,
    0xffffffffn,
    0x100000000n,
    0x8000000000000000n,
    U64,
    0x0123456789abcdefn,
  ];
  // Every length through all short/mid paths, then long-path lengths around stripe (64) and block (1024) edges.
  const lengths = [
    ...Array.from({ length: 300 }, (_, i) => i),
    ...[511, 512, 513, 1023, 1024, 1025, 1087, 1088, 1089, 2047, 2048, 2049, 4096, 5000, 10_000],
  ];

  it("matches for every length path and many seeds", async () => {
    for (const seed of seeds) {
      for (const len of lengths) {
        const data = bytes(len, len * 7919 + Number(seed & 0xffffn));
        const expected = await refXxh3(data, seed);
        if (xxh3_64(data, seed) !== expected) {
          throw new Error(
            `mismatch len=${len} seed=${seed}: ${hex(xxh3_64(data, seed))} != ${hex(expected)}`,
          );
        }
      }
    }
  });

  it("hashes a subarray view by its own bytes", async () => {
    const big = bytes(600, 3);
    const view = big.subarray(13, 13 + 300);
    expect(xxh3_64(view, 5n)).toBe(await refXxh3(view.slice(), 5n));
  });

  it("reduces seeds modulo 2^64", () => {
    const data = bytes(20, 1);
    expect(xxh3_64(data, -1n)).toBe(xxh3_64(data, U64));
  });

  it("agrees on the known empty-input value", () => {
    expect(xxh3_64(new Uint8Array(0))).toBe(0x2d06800538d394c2n);
  });
});

describe("KV block hashes", () => {
  it("hashSeed follows the documented formula", async () => {
    expect(hashSeed()).toBe(1337n);
    expect(hashSeed({ loraName: "", cacheSalt: "" })).toBe(1337n);
    expect(hashSeed({ loraName: "my-lora" })).toBe((1337n + (await refXxh3(utf8.encode("my-lora")))) & U64);
    expect(hashSeed({ cacheSalt: "tenant-a" })).toBe(
      (1337n + (await refXxh3(utf8.encode("\0tenant-a")))) & U64,
    );
    expect(hashSeed({ loraName: "my-lora", cacheSalt: "tenant-a" })).toBe(
      (1337n + (await refXxh3(utf8.encode("my-lora\0tenant-a")))) & U64,
    );
  });

  it("local hashes are XXH3-64 of LE u32 token ids per full block", async () => {
    const tokens = Array.from({ length: 100 }, (_, i) => (i * 2654435761) >>> 0);
    for (const opts of [
      undefined,
      { loraName: "a" },
      { cacheSalt: "s" },
      { loraName: "a", cacheSalt: "s" },
    ]) {
      const local = computeLocalHashes(tokens, 16, opts);
      expect(local.length).toBe(6); // 100 tokens -> 6 full blocks; the partial block is not hashed
      for (let b = 0; b < local.length; b++) {
        const block = le32(tokens.slice(b * 16, b * 16 + 16));
        expect(local[b]).toBe(await refXxh3(block, hashSeed(opts)));
      }
    }
  });

  it("sequence hashes chain the parent's sequence hash with the local hash", async () => {
    const tokens = Array.from({ length: 64 * 5 }, (_, i) => i * 3 + 1);
    const { local, seq } = computeBlockHashes(tokens, 64);
    expect(seq[0]).toBe(local[0]);
    for (let i = 1; i < seq.length; i++) {
      const expected = await refXxh3(le64Pair(seq[i - 1] as bigint, local[i] as bigint), 1337n);
      expect(seq[i]).toBe(expected);
      expect(nextSeqHash(seq[i - 1], local[i] as bigint)).toBe(expected);
    }
    expect(nextSeqHash(undefined, 42n)).toBe(42n);
  });

  it("seq hashes of a subarray equal those of a copy", () => {
    const local = computeLocalHashes(
      Array.from({ length: 160 }, (_, i) => i),
      16,
    );
    expect(computeSeqHashes(local.subarray(3))).toEqual(computeSeqHashes(local.slice(3)));
  });

  it("hashes Uint32Array tokens (and views into them) like plain arrays", () => {
    const tokens = Array.from({ length: 70 }, (_, i) => (i * 40503) >>> 0);
    const backing = new Uint32Array(80);
    backing.set(tokens, 5);
    const view = backing.subarray(5, 75);
    expect(computeLocalHashes(view, 16, { loraName: "a" })).toEqual(
      computeLocalHashes(tokens, 16, { loraName: "a" }),
    );
  });

  it("masks token ids to u32 and rejects bad block sizes", () => {
    expect(computeLocalHashes([-1, 5], 2)).toEqual(computeLocalHashes([0xffffffff, 5], 2));
    expect(() => computeLocalHashes([1, 2], 0)).toThrow(RangeError);
    expect(() => computeLocalHashes([1, 2], 1.5)).toThrow(RangeError);
    expect(computeLocalHashes([1, 2, 3], 4).length).toBe(0);
  });

  it("different adapters or salts never share a hash for the same tokens", () => {
    const tokens = Array.from({ length: 32 }, (_, i) => i);
    const variants = [
      undefined,
      { loraName: "a" },
      { loraName: "b" },
      { cacheSalt: "a" },
      { loraName: "a", cacheSalt: "a" },
    ];
    const firsts = new Set(variants.map((o) => computeLocalHashes(tokens, 16, o)[0]));
    expect(firsts.size).toBe(variants.length);
  });
});

// Fixed vectors; the same values are listed in docs/kv-hashing.md. Each is also checked against hash-wasm above
// (same formula), so a change here means the hashing changed.
describe("fixed test vectors (docs/kv-hashing.md)", () => {
  const range = (n: number, start: number) => Array.from({ length: n }, (_, i) => start + i);

  it("empty input and seeds", () => {
    expect(hex(xxh3_64(new Uint8Array(0), 1337n))).toBe("0xd1f3e77444430ab9");
    expect(hex(hashSeed({ loraName: "my-lora" }))).toBe("0xb2041cc45cbcfedd");
    expect(hex(hashSeed({ cacheSalt: "tenant-a" }))).toBe("0xe596fa388b77c3d1");
    expect(hex(hashSeed({ loraName: "my-lora", cacheSalt: "tenant-a" }))).toBe("0x3d512d47c3a3f933");
  });

  it("one block of 16 tokens 0..15", () => {
    const { local, seq } = computeBlockHashes(range(16, 0), 16);
    expect([...local].map(hex)).toEqual(["0xd47a8f41c833328a"]);
    expect([...seq].map(hex)).toEqual(["0xd47a8f41c833328a"]);
  });

  it("one block of 64 tokens 1000..1063", () => {
    const { local } = computeBlockHashes(range(64, 1000), 64);
    expect([...local].map(hex)).toEqual(["0x65d2cf053f5d8363"]);
  });

  const chains: [string, { loraName?: string; cacheSalt?: string } | undefined, string[], string[]][] = [
    [
      "no LoRA, no salt",
      undefined,
      ["0x9633b31c7a2562c7", "0x10ee3bbea3bf72f2", "0xa0b11437b6e3f7c9"],
      ["0x9633b31c7a2562c7", "0x38edde460245fc8e", "0xff80123400f62cbe"],
    ],
    [
      "LoRA my-lora",
      { loraName: "my-lora" },
      ["0x8ce954a63a4b0ec7", "0x51ee2338a7520fe8", "0x059a2af13460803f"],
      ["0x8ce954a63a4b0ec7", "0xf35a4780ba78f528", "0x9dd4111f2a8e0320"],
    ],
    [
      "salt tenant-a",
      { cacheSalt: "tenant-a" },
      ["0x8a939eb0286df34b", "0xcca7d542763637f7", "0x74d50cd8de7a3e00"],
      ["0x8a939eb0286df34b", "0x01f04133f98ffec3", "0xd33cd5f42fe26908"],
    ],
    [
      "LoRA my-lora and salt tenant-a",
      { loraName: "my-lora", cacheSalt: "tenant-a" },
      ["0x06fbb0c00e44042d", "0x2ce88f121a95a84a", "0xdaf61881da26c3d1"],
      ["0x06fbb0c00e44042d", "0xb36e8e321897d79d", "0xdf7e1a0ca33a168a"],
    ],
  ];
  for (const [name, opts, local, seq] of chains) {
    it(`chain of 50 tokens 100..149, block 16, ${name}`, () => {
      const h = computeBlockHashes(range(50, 100), 16, opts);
      expect([...h.local].map(hex)).toEqual(local);
      expect([...h.seq].map(hex)).toEqual(seq);
    });
  }
});
