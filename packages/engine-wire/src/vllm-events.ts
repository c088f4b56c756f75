// vLLM's KV event batch as it travels in a ZMQ payload: msgpack `[ts, events, dp_rank]`, each event in vLLM's
// current map layout (vllm-project/vllm#42892; FORMATS.md §2.1 (b)). The decoders live in @kvasir/kv.
import type { KvEvent } from "@kvasir/protocol";
import { encodeBatchArray } from "./batch-encoding.js";

/** One vLLM BlockStored / BlockRemoved / AllBlocksCleared event in its map layout. */
export type VllmEvent = Record<string, unknown>;

const MASK64 = (1n << 64n) - 1n;

/**
 * The engine-side name of a block. A bijective scramble (splitmix64's finalizer) of our sequence hash, so the
 * names differ from Kvasir's hashes as a real engine's do, while one block keeps one name for its removal.
 */
export function engineBlockHash(seqHash: bigint): bigint {
  let z = (seqHash + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** msgpack has one int type; like msgspec, send small values compactly and the rest as uint64. */
function wireInt(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** A BlockStored event: whole blocks of `tokenIds` under the engine's block names. */
export function vllmBlockStored(
  tokenIds: readonly number[],
  blockSize: number,
  engineHashes: readonly bigint[],
  parent: bigint | null = null,
  loraName: string | null = null,
): VllmEvent {
  return {
    type: "BlockStored",
    block_hashes: engineHashes.map(wireInt),
    parent_block_hash: parent === null ? null : wireInt(parent),
    token_ids: [...tokenIds],
    block_size: blockSize,
    lora_id: null,
    medium: "GPU",
    lora_name: loraName,
    extra_keys: engineHashes.map(() => null),
    group_idx: 0,
    kv_cache_spec_kind: "full_attention",
  };
}

export function vllmBlockRemoved(engineHashes: readonly bigint[]): VllmEvent {
  return { type: "BlockRemoved", block_hashes: engineHashes.map(wireInt), medium: "GPU", group_idx: 0 };
}

export function vllmAllBlocksCleared(): VllmEvent {
  return { type: "AllBlocksCleared" };
}

/** One Kvasir event as vLLM would report it, blocks named by `engineBlockHash`; undefined for other kinds. */
export function toVllmEvent(event: KvEvent): VllmEvent | undefined {
  const data = event.data;
  switch (data.case) {
    case "stored": {
      const stored = data.value;
      return vllmBlockStored(
        stored.tokenIds,
        stored.blockSize,
        stored.blocks.map((block) => engineBlockHash(block.seqHash)),
        stored.parentSeqHash === undefined ? null : engineBlockHash(stored.parentSeqHash),
        stored.loraName === "" ? null : stored.loraName,
      );
    }
    case "removed":
      return vllmBlockRemoved(data.value.seqHashes.map(engineBlockHash));
    case "cleared":
      return vllmAllBlocksCleared();
    default:
      return undefined;
  }
}

/** The payload of one batch: `[ts seconds, events, dp_rank]`. */
export function encodeEventBatch(
  events: readonly VllmEvent[],
  dpRank: number,
  nowMs = Date.now(),
): Uint8Array {
  return encodeBatchArray(nowMs / 1000, events, dpRank);
}
