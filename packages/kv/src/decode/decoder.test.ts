import { encode } from "@msgpack/msgpack";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { KvCacheEvent, StoredData } from "../events.js";
import { computeBlockHashes } from "../hash.js";
import { EngineEventDecoder } from "./decoder.js";
import { DROP_REASONS } from "./engine.js";
import {
  FIXTURE_BLOCK_SIZE,
  fixtureTokens,
  KV_EVENT_FIXTURES,
  type KvEventFixture,
  MALFORMED_PAYLOADS,
} from "./fixtures.js";

const pack = (v: unknown) => encode(v, { useBigInt64: true });

function decodeAll(decoder: EngineEventDecoder, payloads: readonly Uint8Array[]): KvCacheEvent[] {
  return payloads.flatMap((p) => decoder.decodeBatch(p));
}

function checkFixture(f: KvEventFixture): void {
  const decoder = new EngineEventDecoder({ workerId: 7n });
  const events = decodeAll(decoder, f.payloads);
  const e = f.expected;
  const chain = computeBlockHashes(fixtureTokens(0, 8), FIXTURE_BLOCK_SIZE, {
    ...(e.loraName !== undefined ? { loraName: e.loraName } : {}),
    ...(e.cacheSalt !== undefined ? { cacheSalt: e.cacheSalt } : {}),
  });
  const pick = (arr: BigUint64Array, idx: number[]) => idx.map((i) => arr[i]);

  expect(events.map((ev) => ev.eventId)).toEqual(events.map((_, i) => BigInt(i)));
  for (const ev of events) {
    expect(ev.workerId).toBe(7n);
    expect(ev.dpRank).toBe(e.dpRank);
  }
  const stored = events.flatMap((ev) => (ev.data.kind === "stored" ? [ev.data] : []));
  expect(stored.length).toBe(e.stored.length);
  stored.forEach((s: StoredData, k) => {
    const idx = e.stored[k] as number[];
    expect([...s.localHashes]).toEqual(pick(chain.local, idx));
    expect([...s.seqHashes]).toEqual(pick(chain.seq, idx));
    const first = idx[0] as number;
    expect(s.parentSeqHash).toBe(first > 0 ? chain.seq[first - 1] : undefined);
    expect(s.blockSize).toBe(FIXTURE_BLOCK_SIZE);
    expect([...s.tokenIds]).toEqual(fixtureTokens(first, idx.length));
    expect(s.loraName).toBe(e.loraName ?? "");
  });
  const removed = events.flatMap((ev) => (ev.data.kind === "removed" ? [ev.data] : []));
  expect(removed.map((r) => [...r.seqHashes])).toEqual(e.removed.map((idx) => pick(chain.seq, idx)));
  expect(events.filter((ev) => ev.data.kind === "cleared").length).toBe(e.cleared);
  const drops = Object.fromEntries(DROP_REASONS.map((r) => [r, e.drops[r] ?? 0]));
  expect(decoder.drops).toEqual(drops);
}

describe("EngineEventDecoder on the fixture corpus", () => {
  for (const f of KV_EVENT_FIXTURES) {
    it(`${f.engine}: ${f.name}`, () => checkFixture(f));
  }

  it("covers every drop reason", () => {
    const seen = new Set(KV_EVENT_FIXTURES.flatMap((f) => Object.keys(f.expected.drops)));
    expect([...seen].sort()).toEqual([...DROP_REASONS].sort());
  });

  it("counts payloads that are not batches as malformed", () => {
    const decoder = new EngineEventDecoder({ workerId: 1n });
    for (const p of MALFORMED_PAYLOADS) expect(decoder.decodeBatch(p)).toEqual([]);
    expect(decoder.drops.malformed).toBe(MALFORMED_PAYLOADS.length);
  });
});

describe("EngineEventDecoder state", () => {
  const ts = 1.5;
  const stored = (hashes: unknown[], parent: unknown, from: number) => ({
    type: "BlockStored",
    block_hashes: hashes,
    parent_block_hash: parent,
    token_ids: fixtureTokens(from, hashes.length),
    block_size: FIXTURE_BLOCK_SIZE,
  });

  it("keys engine hashes per dp rank and clears only the cleared rank", () => {
    const d = new EngineEventDecoder({ workerId: 1n });
    d.decodeBatch(pack([ts, [stored([1, 2], null, 0)], 0]));
    d.decodeBatch(pack([ts, [stored([1], null, 0)], 1]));
    expect(d.knownBlocks(0)).toBe(2);
    expect(d.knownBlocks(1)).toBe(1);
    // The same engine hash on rank 1 does not resolve rank 0's block 2.
    expect(d.decodeBatch(pack([ts, [["BlockRemoved", [2]]], 1]))).toEqual([]);
    expect(d.unknownRemovedHashes).toBe(1);
    const cleared = d.decodeBatch(pack([ts, [["AllBlocksCleared"]], 1]));
    expect(cleared.map((e) => [e.dpRank, e.data.kind])).toEqual([[1, "cleared"]]);
    expect(d.knownBlocks(1)).toBe(0);
    expect(d.knownBlocks(0)).toBe(2);
  });

  it("engineRestarted forgets blocks and emits Cleared per known rank", () => {
    const d = new EngineEventDecoder({ workerId: 1n, firstEventId: 100n });
    d.decodeBatch(pack([ts, [stored([1], null, 0)], 0]));
    d.decodeBatch(pack([ts, [stored([9], null, 0)], 2]));
    const evs = d.engineRestarted();
    expect(evs.map((e) => [e.dpRank, e.eventId, e.data.kind])).toEqual([
      [0, 102n, "cleared"],
      [2, 103n, "cleared"],
    ]);
    expect(d.knownBlocks(0) + d.knownBlocks(2)).toBe(0);
    // A parent from before the restart is unknown now.
    d.decodeBatch(pack([ts, [stored([2], 1, 1)], 0]));
    expect(d.drops.unknown_parent).toBe(1);
    expect(new EngineEventDecoder({ workerId: 1n, defaultDpRank: 4 }).engineRestarted()[0]?.dpRank).toBe(4);
  });

  it("removes a sequence hash only when no engine block names it any more", () => {
    const d = new EngineEventDecoder({ workerId: 1n });
    // Two engine hashes for the same tokens (the engine mixed in keys the router does not see).
    d.decodeBatch(pack([ts, [stored([10], null, 0), stored([11], null, 0)]]));
    expect(d.decodeBatch(pack([ts, [["BlockRemoved", [10]]]]))).toEqual([]);
    const out = d.decodeBatch(pack([ts, [["BlockRemoved", [11]]]]));
    expect(out.length).toBe(1);
    expect(out[0]?.data.kind).toBe("removed");
  });

  it("infers a missing block size from tokens and hashes", () => {
    const d = new EngineEventDecoder({ workerId: 1n });
    const ev = { type: "BlockStored", block_hashes: [1, 2], token_ids: fixtureTokens(0, 2) };
    const out = d.decodeBatch(pack([ts, [ev]]));
    const data = out[0]?.data;
    expect(data?.kind === "stored" && data.blockSize).toBe(FIXTURE_BLOCK_SIZE);
  });

  it("applies the configured cache salt when events carry none, and honours media", () => {
    const d = new EngineEventDecoder({ workerId: 1n, cacheSalt: "s", media: ["gpu", "cpu"] });
    const out = d.decodeBatch(pack([ts, [{ ...stored([1], null, 0), medium: "CPU" }]]));
    const data = out[0]?.data;
    const ref = computeBlockHashes(fixtureTokens(0, 1), FIXTURE_BLOCK_SIZE, { cacheSalt: "s" });
    expect(data?.kind === "stored" && data.seqHashes[0]).toBe(ref.seq[0]);
  });
});

describe("EngineEventDecoder never throws", () => {
  const hashLike = fc.oneof(
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.integer(),
    fc.uint8Array({ maxLength: 40 }),
    fc.constant(null),
    fc.string({ maxLength: 4 }),
  );
  const slotValue = fc.oneof(
    hashLike,
    fc.array(hashLike, { maxLength: 4 }),
    fc.array(fc.oneof(fc.nat(), fc.integer({ min: -5, max: 5 }), fc.array(fc.nat(), { maxLength: 3 })), {
      maxLength: 40,
    }),
    fc.constantFrom(0, 1, 4, 16, "GPU", "CPU", "full_attention", "sliding_window"),
  );
  const tag = fc.constantFrom("BlockStored", "BlockRemoved", "AllBlocksCleared", "Other", 3);
  const arrayEvent = fc.tuple(tag, fc.array(slotValue, { maxLength: 13 })).map(([t, rest]) => [t, ...rest]);
  const keys = fc.constantFrom(
    "block_hashes",
    "parent_block_hash",
    "token_ids",
    "block_size",
    "medium",
    "lora_name",
    "group_idx",
    "kv_cache_spec_kind",
    "cache_salt",
    "zzz",
  );
  const mapEvent = fc
    .tuple(tag, fc.dictionary(keys, slotValue, { maxKeys: 9 }))
    .map(([t, m]) => ({ ...m, type: t }));
  const batch = fc.oneof(
    fc.tuple(
      fc.double(),
      fc.array(fc.oneof(arrayEvent, mapEvent), { maxLength: 6 }),
      fc.oneof(fc.nat(), fc.constant(null)),
    ),
    fc
      .record({ ts: fc.double(), events: fc.array(fc.oneof(arrayEvent, mapEvent), { maxLength: 6 }) })
      .map((b) => ({ ...b, data_parallel_rank: 1 })),
  );

  it("on random bytes", () => {
    const d = new EngineEventDecoder({ workerId: 1n });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        expect(Array.isArray(d.decodeBatch(bytes))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it("on random structured batches and their truncations", () => {
    const d = new EngineEventDecoder({ workerId: 1n });
    fc.assert(
      fc.property(batch, fc.nat(), (b, cut) => {
        const bytes = pack(b);
        d.decodeBatch(bytes);
        d.decodeBatch(bytes.subarray(0, cut % (bytes.length + 1)));
      }),
      { numRuns: 1500 },
    );
  });

  it("on every truncation and single-byte corruption of the fixture payloads", () => {
    const d = new EngineEventDecoder({ workerId: 1n });
    for (const f of KV_EVENT_FIXTURES) {
      for (const p of f.payloads) {
        for (let n = 0; n < p.length; n++) d.decodeBatch(p.subarray(0, n));
        for (let i = 0; i < p.length; i += 3) {
          const c = p.slice();
          c[i] = (c[i] as number) ^ 0x5a;
          d.decodeBatch(c);
        }
      }
    }
    expect(d.drops.malformed).toBeGreaterThan(0);
  });
});
