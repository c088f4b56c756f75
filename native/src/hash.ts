// Native KV block hashing, bit-identical to @kvasir/kv's (docs/kv-hashing.md).
import type { HashOptions } from "@kvasir/kv";
import { requireAddon } from "./addon.js";

const KV_HASH_SEED = 1337n;
const utf8 = new TextEncoder();

/** XXH3-64 of `data` with `seed` (default 0). */
export function xxh3_64(data: Uint8Array, seed = 0n): bigint {
  return requireAddon().xxh3_64(data, BigInt.asUintN(64, seed));
}

/** Seed of a request's block hashes: 1337, plus the XXH3-64 of the LoRA name (and "\0" + salt) when given. */
export function hashSeed(salt?: HashOptions): bigint {
  const lora = salt?.loraName ?? "";
  const cacheSalt = salt?.cacheSalt ?? "";
  if (lora === "" && cacheSalt === "") return KV_HASH_SEED;
  const material = cacheSalt === "" ? lora : `${lora}\0${cacheSalt}`;
  return BigInt.asUintN(64, KV_HASH_SEED + xxh3_64(utf8.encode(material)));
}

/** Local and sequence hashes of every full block of `tokens`. */
export function hashBlocks(
  tokens: Uint32Array,
  blockSize: number,
  salt?: HashOptions,
): { local: BigUint64Array; seq: BigUint64Array } {
  const [local, seq] = requireAddon().hashBlocks(tokens, blockSize, hashSeed(salt));
  return { local, seq };
}
