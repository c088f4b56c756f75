// The normalized KV event model that indexers consume. It mirrors kvasir.events.v1.KvEvent, with hashes held in
// typed arrays so indexers (and the native one, across N-API) can take them without per-block objects.
import {
  create,
  fromBinary,
  type KvEvent,
  type KvEventBatch,
  KvEventBatchSchema,
  KvEventSchema,
  toBinary,
} from "@kvasir/protocol";
import { computeLocalHashes, type HashOptions, nextSeqHash } from "./hash.js";

export interface StoredData {
  kind: "stored";
  /** Sequence hash of the block before the first stored block; undefined when the chain starts at the root. */
  parentSeqHash?: bigint;
  /** Per block, in prefix order; localHashes[i] and seqHashes[i] name the same block. */
  localHashes: BigUint64Array;
  seqHashes: BigUint64Array;
  /** Tokens of the stored blocks: length == blocks * blockSize. */
  tokenIds: Uint32Array;
  blockSize: number;
  /** LoRA adapter name, "" for the base model. */
  loraName: string;
}

export interface RemovedData {
  kind: "removed";
  seqHashes: BigUint64Array;
}

export interface ClearedData {
  kind: "cleared";
}

export type KvEventData = StoredData | RemovedData | ClearedData;

/** One KV cache event of one worker's dp rank. eventId is per-worker monotonic; a gap means lost events. */
export interface KvCacheEvent {
  workerId: bigint;
  dpRank: number;
  eventId: bigint;
  data: KvEventData;
}

export function toProtoKvEvent(ev: KvCacheEvent): KvEvent {
  const base = { workerId: ev.workerId, dpRank: ev.dpRank, eventId: ev.eventId };
  const d = ev.data;
  switch (d.kind) {
    case "stored": {
      const blocks = Array.from(d.localHashes, (localHash, i) => ({
        localHash,
        seqHash: d.seqHashes[i] ?? 0n,
      }));
      const stored = {
        blocks,
        tokenIds: Array.from(d.tokenIds),
        blockSize: d.blockSize,
        loraName: d.loraName,
        ...(d.parentSeqHash !== undefined ? { parentSeqHash: d.parentSeqHash } : {}),
      };
      return create(KvEventSchema, { ...base, data: { case: "stored", value: stored } });
    }
    case "removed":
      return create(KvEventSchema, {
        ...base,
        data: { case: "removed", value: { seqHashes: Array.from(d.seqHashes) } },
      });
    case "cleared":
      return create(KvEventSchema, { ...base, data: { case: "cleared", value: {} } });
  }
}

/** The normalized form of a protocol event, or undefined when it carries no data (an unknown oneof case). */
export function fromProtoKvEvent(msg: KvEvent): KvCacheEvent | undefined {
  const base = { workerId: msg.workerId, dpRank: msg.dpRank, eventId: msg.eventId };
  const d = msg.data;
  switch (d.case) {
    case "stored": {
      const s = d.value;
      const data: StoredData = {
        kind: "stored",
        localHashes: BigUint64Array.from(s.blocks, (b) => b.localHash),
        seqHashes: BigUint64Array.from(s.blocks, (b) => b.seqHash),
        tokenIds: Uint32Array.from(s.tokenIds),
        blockSize: s.blockSize,
        loraName: s.loraName,
      };
      if (s.parentSeqHash !== undefined) data.parentSeqHash = s.parentSeqHash;
      return { ...base, data };
    }
    case "removed":
      return { ...base, data: { kind: "removed", seqHashes: BigUint64Array.from(d.value.seqHashes) } };
    case "cleared":
      return { ...base, data: { kind: "cleared" } };
    default:
      return undefined;
  }
}

export function toProtoKvEventBatch(events: readonly KvCacheEvent[]): KvEventBatch {
  return create(KvEventBatchSchema, { events: events.map(toProtoKvEvent) });
}

/** Binary kvasir.events.v1.KvEventBatch, as published on the event plane. */
export function encodeKvEventBatch(events: readonly KvCacheEvent[]): Uint8Array {
  return toBinary(KvEventBatchSchema, toProtoKvEventBatch(events));
}

/**
 * Events of a binary KvEventBatch; undefined when the bytes are not a valid batch. Events without data are
 * skipped. Never throws.
 */
export function decodeKvEventBatch(bytes: Uint8Array): KvCacheEvent[] | undefined {
  let batch: KvEventBatch;
  try {
    batch = fromBinary(KvEventBatchSchema, bytes);
  } catch {
    return undefined;
  }
  const out: KvCacheEvent[] = [];
  for (const msg of batch.events) {
    const ev = fromProtoKvEvent(msg);
    if (ev !== undefined) out.push(ev);
  }
  return out;
}

/**
 * Stored data for the full blocks of `tokens`, hashed per docs/kv-hashing.md; the chain continues from
 * `parentSeqHash` when given. A trailing partial block is left out.
 */
export function storedFromTokens(
  tokens: ArrayLike<number>,
  blockSize: number,
  opts: HashOptions & { parentSeqHash?: bigint } = {},
): StoredData {
  const localHashes = computeLocalHashes(tokens, blockSize, opts);
  const seqHashes = new BigUint64Array(localHashes.length);
  let parent = opts.parentSeqHash;
  for (let i = 0; i < localHashes.length; i++) {
    parent = nextSeqHash(parent, localHashes[i] as bigint);
    seqHashes[i] = parent;
  }
  const data: StoredData = {
    kind: "stored",
    localHashes,
    seqHashes,
    tokenIds: Uint32Array.from(
      { length: localHashes.length * blockSize },
      (_, i) => (tokens[i] as number) >>> 0,
    ),
    blockSize,
    loraName: opts.loraName ?? "",
  };
  if (opts.parentSeqHash !== undefined) data.parentSeqHash = opts.parentSeqHash;
  return data;
}
