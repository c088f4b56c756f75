// SGLang's KV event batch as it travels in a ZMQ payload (sgl-project/sglang main 2026,
// python/sglang/srt/disaggregation/kv_events.py): every struct is msgspec `array_like` with `tag=True` and no
// omit_defaults, so a batch is `[ts, events, attn_dp_rank]` and the events are positional:
//   ["BlockStored", block_hashes, parent_block_hash, token_ids, block_size, lora_id, medium]
//   ["BlockRemoved", block_hashes, medium]
//   ["AllBlocksCleared"]
// Block hashes are signed 64-bit integers (FORMATS.md §2.2). Decoders live in @kvasir/kv.
import type { KvEvent } from "@kvasir/protocol";
import { encodeBatchArray } from "./batch-encoding.js";
import { engineBlockHash } from "./vllm-events.js";

export type SglangEvent = readonly unknown[];

/** msgspec writes the smallest int form; a bigint only where a JS number would lose precision. */
function wireSigned(value: bigint): number | bigint {
  const signed = BigInt.asIntN(64, value);
  return signed <= BigInt(Number.MAX_SAFE_INTEGER) && signed >= BigInt(Number.MIN_SAFE_INTEGER)
    ? Number(signed)
    : signed;
}

export function sglangBlockStored(
  tokenIds: readonly number[],
  pageSize: number,
  engineHashes: readonly bigint[],
  parent: bigint | null = null,
  medium = "GPU",
): SglangEvent {
  return [
    "BlockStored",
    engineHashes.map(wireSigned),
    parent === null ? null : wireSigned(parent),
    [...tokenIds],
    pageSize,
    null,
    medium,
  ];
}

export function sglangBlockRemoved(engineHashes: readonly bigint[], medium = "GPU"): SglangEvent {
  return ["BlockRemoved", engineHashes.map(wireSigned), medium];
}

export function sglangAllBlocksCleared(): SglangEvent {
  return ["AllBlocksCleared"];
}

/** One Kvasir event as SGLang would report it, blocks named by `engineBlockHash`; undefined for other kinds. */
export function toSglangEvent(event: KvEvent): SglangEvent | undefined {
  const data = event.data;
  switch (data.case) {
    case "stored": {
      const stored = data.value;
      return sglangBlockStored(
        stored.tokenIds,
        stored.blockSize,
        stored.blocks.map((block) => engineBlockHash(block.seqHash)),
        stored.parentSeqHash === undefined ? null : engineBlockHash(stored.parentSeqHash),
      );
    }
    case "removed":
      return sglangBlockRemoved(data.value.seqHashes.map(engineBlockHash));
    case "cleared":
      return sglangAllBlocksCleared();
    default:
      return undefined;
  }
}

/** The payload of one batch: `[ts seconds (float64), events, attn_dp_rank]`. */
export function encodeSglangEventBatch(
  events: readonly SglangEvent[],
  attnDpRank: number,
  nowMs = Date.now(),
): Uint8Array {
  return encodeBatchArray(nowMs / 1000, events, attnDpRank);
}
