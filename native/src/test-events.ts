// Event builders shared by the native index's tests: blocks `from`..`to` of one chain of hashes.
import type { KvCacheEvent } from "@kvasir/kv";

/** A Stored event of blocks [from, to) of the chain (`local` hashes, `seq` their sequence hashes). */
export function storedRange(
  chain: { local: BigUint64Array; seq: BigUint64Array },
  workerId: bigint,
  eventId: bigint,
  from: number,
  to: number,
): KvCacheEvent {
  return {
    workerId,
    dpRank: 0,
    eventId,
    data: {
      kind: "stored",
      localHashes: chain.local.slice(from, to),
      seqHashes: chain.seq.slice(from, to),
      tokenIds: new Uint32Array(0),
      blockSize: 16,
      loraName: "",
      ...(from > 0 ? { parentSeqHash: chain.seq[from - 1] as bigint } : {}),
    },
  };
}

/** A Removed event of the chain's blocks at `at`. */
export function removedAt(
  chain: { seq: BigUint64Array },
  workerId: bigint,
  eventId: bigint,
  ...at: number[]
): KvCacheEvent {
  return {
    workerId,
    dpRank: 0,
    eventId,
    data: { kind: "removed", seqHashes: BigUint64Array.from(at, (i) => chain.seq[i] as bigint) },
  };
}
