// A corpus of engine KV event batches in every layout of ../shared/FORMATS.md §2.1–2.2, encoded with
// @msgpack/msgpack the way the Python producers encode them (msgspec array_like/tag structs, or maps).
// Each fixture says what a correct decoder makes of it, so other packages (the native indexer, the indexer app)
// can replay the same corpus.
import { encode } from "@msgpack/msgpack";
import type { DropReason } from "./engine.js";

export const FIXTURE_BLOCK_SIZE = 16;
const BS = FIXTURE_BLOCK_SIZE;
const TS = 1789095808.8378847;

/** Tokens of fixture block `i` (distinct per block, deterministic). */
export function fixtureBlockTokens(i: number): number[] {
  return Array.from({ length: BS }, (_, j) => 151_000 + i * 97 + j * 3);
}

/** Tokens of blocks `from .. from+count-1`, concatenated. */
export function fixtureTokens(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, k) => fixtureBlockTokens(from + k)).flat();
}

function pack(value: unknown): Uint8Array {
  return encode(value, { useBigInt64: true });
}

/** What decoding a fixture's payloads, in order, must produce. */
export interface FixtureExpectation {
  /** dp rank of every emitted event. */
  dpRank: number;
  /** Per emitted Stored event: the fixture block indices it stores, in order (root chain 0, 1, 2, ...). */
  stored: number[][];
  /** Per emitted Removed event: the fixture block indices whose sequence hashes it removes. */
  removed: number[][];
  cleared: number;
  drops: Partial<Record<DropReason, number>>;
  loraName?: string;
  cacheSalt?: string;
}

export interface KvEventFixture {
  name: string;
  engine: "vllm" | "sglang";
  payloads: Uint8Array[];
  expected: FixtureExpectation;
}

// The standard scenario: store blocks 0-1 at the root, store block 2 under block 1, remove block 2, then 0-1.
// Engine hashes are arbitrary engine-chosen names; `h` gives each engine its own form.
type HashForm = (block: number) => unknown;

const vllmInt: HashForm = (b) => 15_760_518_052_499_183_552n - BigInt(b) * 1_000_003n; // > i64::MAX: uint64
const sglangSigned: HashForm = (b) => -4_611_686_018_427_387_904n - BigInt(b) * 7n; // high 64 bits, signed
function digest(b: number): Uint8Array {
  const d = new Uint8Array(32);
  for (let i = 0; i < 32; i++) d[i] = (b * 31 + i * 7 + 1) & 0xff;
  return d;
}
const vllmBytes: HashForm = digest;

/** Legacy positional BlockStored with the first `len` slots (6 = v0.9 ... 12 = kv_cache_spec_*). */
function positionalStored(
  len: number,
  hashes: unknown[],
  parent: unknown,
  tokens: number[],
  loraName: unknown,
) {
  const full = [
    "BlockStored",
    hashes,
    parent,
    tokens,
    BS,
    null, // lora_id
    "GPU", // medium
    loraName,
    hashes.map(() => null), // extra_keys
    0, // group_idx
    "full_attention",
    null,
  ];
  return full.slice(0, len);
}

function positionalRemoved(len: number, hashes: unknown[]) {
  return ["BlockRemoved", hashes, "GPU", 0].slice(0, len);
}

function mapStored(
  hashes: unknown[],
  parent: unknown,
  tokens: number[],
  extra: Record<string, unknown> = {},
) {
  return {
    type: "BlockStored",
    block_hashes: hashes,
    parent_block_hash: parent,
    token_ids: tokens,
    block_size: BS,
    lora_id: null,
    medium: "GPU",
    lora_name: null,
    extra_keys: hashes.map(() => null),
    group_idx: 0,
    kv_cache_spec_kind: "full_attention",
    ...extra,
  };
}

function mapRemoved(hashes: unknown[], extra: Record<string, unknown> = {}) {
  return { type: "BlockRemoved", block_hashes: hashes, medium: "GPU", group_idx: 0, ...extra };
}

type EventBuilder = {
  stored: (hashes: unknown[], parent: unknown, tokens: number[]) => unknown;
  removed: (hashes: unknown[]) => unknown;
};
type BatchBuilder = (events: unknown[]) => unknown;

function scenario(h: HashForm, ev: EventBuilder, batch: BatchBuilder): Uint8Array[] {
  return [
    batch([ev.stored([h(0), h(1)], null, fixtureTokens(0, 2))]),
    batch([ev.stored([h(2)], h(1), fixtureTokens(2, 1))]),
    batch([ev.removed([h(2)]), ev.removed([h(0), h(1)])]),
  ].map(pack);
}

const scenarioExpectation = (dpRank: number): FixtureExpectation => ({
  dpRank,
  stored: [[0, 1], [2]],
  removed: [[2], [0, 1]],
  cleared: 0,
  drops: {},
});

const arrayBatch =
  (dpRank?: number | null): BatchBuilder =>
  (events) =>
    dpRank === undefined ? [TS, events] : [TS, events, dpRank];

function layoutFixtures(): KvEventFixture[] {
  const out: KvEventFixture[] = [];
  // (a) legacy positional, each historic BlockStored length, with the matching BlockRemoved length.
  const lengths: [number, number][] = [
    [6, 2],
    [7, 3],
    [8, 3],
    [9, 3],
    [10, 4],
    [12, 4],
  ];
  for (const [sl, rl] of lengths) {
    out.push({
      name: `vllm legacy positional, BlockStored ${sl} slots, no dp rank`,
      engine: "vllm",
      payloads: scenario(
        vllmInt,
        {
          stored: (hs, p, t) => positionalStored(sl, hs, p, t, null),
          removed: (hs) => positionalRemoved(rl, hs),
        },
        arrayBatch(),
      ),
      expected: scenarioExpectation(0),
    });
  }
  out.push({
    name: "vllm legacy positional with dp rank 2 and bytes hashes",
    engine: "vllm",
    payloads: scenario(
      vllmBytes,
      {
        stored: (hs, p, t) => positionalStored(12, hs, p, t, null),
        removed: (hs) => positionalRemoved(4, hs),
      },
      arrayBatch(2),
    ),
    expected: scenarioExpectation(2),
  });
  // (b) current: map events inside an array batch, and the possible map batch.
  out.push({
    name: "vllm map events in array batch",
    engine: "vllm",
    payloads: scenario(vllmInt, { stored: mapStored, removed: (hs) => mapRemoved(hs) }, arrayBatch(0)),
    expected: scenarioExpectation(0),
  });
  out.push({
    name: "vllm map events in map batch, dp rank 1",
    engine: "vllm",
    payloads: scenario(vllmInt, { stored: mapStored, removed: (hs) => mapRemoved(hs) }, (events) => ({
      ts: TS,
      events,
      data_parallel_rank: 1,
    })),
    expected: scenarioExpectation(1),
  });
  // SGLang: array batch always sends the 3rd slot (nil when unset); signed high-64 hashes.
  out.push({
    name: "sglang positional, nil attn_dp_rank, signed hashes",
    engine: "sglang",
    payloads: scenario(
      sglangSigned,
      {
        stored: (hs, p, t) => positionalStored(7, hs, p, t, null),
        removed: (hs) => positionalRemoved(3, hs),
      },
      arrayBatch(null),
    ),
    expected: scenarioExpectation(0),
  });
  out.push({
    name: "sglang map events in map batch with attn_dp_rank 3, medium and session fields",
    engine: "sglang",
    payloads: scenario(
      sglangSigned,
      {
        stored: (hs, p, t) =>
          mapStored(hs, p, t, { medium: "GPU", session_id: "s-1", kv_cache_spec_kind: undefined }),
        removed: (hs) => mapRemoved(hs, { session_id: "s-1" }),
      },
      (events) => ({ ts: TS, events, attn_dp_rank: 3 }),
    ),
    expected: scenarioExpectation(3),
  });
  return out;
}

function edgeFixtures(): KvEventFixture[] {
  const h = vllmInt;
  const b = arrayBatch(0);
  const one = (
    name: string,
    engine: "vllm" | "sglang",
    events: unknown[],
    expected: Partial<FixtureExpectation>,
  ) => ({
    name,
    engine,
    payloads: [pack(b(events))],
    expected: { dpRank: 0, stored: [], removed: [], cleared: 0, drops: {}, ...expected },
  });
  return [
    one(
      "AllBlocksCleared (positional and map)",
      "vllm",
      [["AllBlocksCleared"], { type: "AllBlocksCleared" }],
      {
        cleared: 2,
      },
    ),
    one(
      "LoRA name is part of the hash key",
      "vllm",
      [mapStored([h(0), h(1)], null, fixtureTokens(0, 2), { lora_name: "my-lora", lora_id: 7 })],
      { stored: [[0, 1]], loraName: "my-lora" },
    ),
    one(
      "SGLang cache_salt is part of the hash key",
      "sglang",
      [mapStored([h(0)], null, fixtureTokens(0, 1), { cache_salt: "tenant-a" })],
      { stored: [[0]], cacheSalt: "tenant-a" },
    ),
    one(
      "SGLang EAGLE bigram token pairs",
      "sglang",
      [mapStored([h(0)], null, fixtureTokens(0, 1).map((t) => [t, t + 1]) as unknown as number[])],
      { stored: [[0]] },
    ),
    one(
      "unknown fields and extra positional slots are ignored",
      "vllm",
      [
        [...positionalStored(12, [h(0)], null, fixtureTokens(0, 1), null), "future-slot", 42],
        mapStored([h(1)], h(0), fixtureTokens(1, 1), { brand_new_field: { nested: [1, 2] } }),
      ],
      { stored: [[0], [1]] },
    ),
    one(
      "slot 9 holding block_mm_infos instead of group_idx",
      "vllm",
      [[...positionalStored(9, [h(0)], null, fixtureTokens(0, 1), null), [null]]],
      { stored: [[0]] },
    ),
    one(
      "media other than GPU (offload tiers, unnamed enums) are not device cache; lower-case gpu is",
      "vllm",
      [
        mapStored([h(0)], null, fixtureTokens(0, 1), { medium: "CPU" }),
        mapStored([h(0)], null, fixtureTokens(0, 1), { medium: 2 }),
        ["BlockRemoved", [h(0)], "CPU_TIER_2"],
        mapStored([h(0)], null, fixtureTokens(0, 1), { medium: "gpu", kv_cache_spec_kind: 7 }),
      ],
      {
        stored: [[0]],
        drops: { unknown_medium: 3 },
      },
    ),
    one("block_size 0 placeholder", "vllm", [mapStored([h(0)], null, [], { block_size: 0 })], {
      drops: { placeholder: 1 },
    }),
    one(
      "non-main attention group and sliding-window kind",
      "vllm",
      [
        mapStored([h(0)], null, fixtureTokens(0, 1), { group_idx: 1 }),
        mapStored([h(0)], null, fixtureTokens(0, 1), { kv_cache_spec_kind: "sliding_window" }),
        ["BlockRemoved", [h(0)], "GPU", 1],
      ],
      { drops: { non_main_attention_group: 3 } },
    ),
    one("self-referencing parent", "vllm", [mapStored([h(0)], h(0), fixtureTokens(0, 1))], {
      drops: { self_referencing_hashes: 1 },
    }),
    one(
      "unaligned token count",
      "vllm",
      [mapStored([h(0), h(1)], null, fixtureTokens(0, 2).slice(0, 2 * BS - 3))],
      { drops: { unaligned_blocks: 1 } },
    ),
    one("unknown event tag", "vllm", [["BlockEvicted", [h(0)]], { type: "SomethingNew" }], {
      drops: { unknown_type: 2 },
    }),
    one("parent never stored", "vllm", [mapStored([h(5)], h(4), fixtureTokens(5, 1))], {
      drops: { unknown_parent: 1 },
    }),
    one(
      "duplicate store",
      "vllm",
      [mapStored([h(0)], null, fixtureTokens(0, 1)), mapStored([h(0)], null, fixtureTokens(0, 1))],
      { stored: [[0]], drops: { duplicate_stores: 1 } },
    ),
    one(
      "malformed events beside good ones",
      "vllm",
      [
        42,
        "BlockStored",
        [7],
        mapStored(["not-a-hash"], null, fixtureTokens(0, 1)),
        mapStored([h(0)], null, fixtureTokens(0, 1)),
      ],
      { stored: [[0]], drops: { malformed: 4 } },
    ),
  ];
}

/** Every fixture: the standard scenario in each layout, then one fixture per edge case. */
export const KV_EVENT_FIXTURES: readonly KvEventFixture[] = [...layoutFixtures(), ...edgeFixtures()];

/** Payloads that are not a batch at all; each counts once as malformed. */
export const MALFORMED_PAYLOADS: readonly Uint8Array[] = [
  new Uint8Array(0),
  Uint8Array.of(0xc1), // never-used msgpack byte
  pack({ ts: TS }), // map batch without events
  pack([TS, "not-events"]),
  pack("just a string"),
  pack([TS, []]).subarray(0, 5), // truncated
  Uint8Array.of(0xdd, 0xff, 0xff, 0xff, 0xff), // array32 header claiming 4G entries, no data
];
