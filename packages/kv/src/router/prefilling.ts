// Prompts this router booked on workers whose prefill has not completed yet. Their blocks are not in the index (a
// worker reports blocks once computed), but a request routed to the same worker now queues behind them and finds
// them cached when its own prefill runs. The ttft cost model counts them as cached, so a burst of requests that
// share a new prefix goes where the first one went instead of computing the prefix on several workers.
import { type WorkerMatch, workerKey } from "../indexer/types.js";

interface Prefilling {
  workerId: bigint;
  dpRank: number;
  localHashes: BigUint64Array;
}

function commonPrefix(a: BigUint64Array, b: BigUint64Array): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class PrefillingPrompts {
  private readonly byBooking = new Map<string, Prefilling>();

  get size(): number {
    return this.byBooking.size;
  }

  add(booking: string, workerId: bigint, dpRank: number, localHashes: BigUint64Array): void {
    if (localHashes.length > 0) this.byBooking.set(booking, { workerId, dpRank, localHashes });
  }

  delete(booking: string): void {
    this.byBooking.delete(booking);
  }

  /** Keeps only the bookings `keep` accepts. */
  retain(keep: (booking: string, workerId: bigint) => boolean): void {
    for (const [booking, p] of this.byBooking) if (!keep(booking, p.workerId)) this.byBooking.delete(booking);
  }

  /** Per worker, the longer of the index's match and the longest prefix the query shares with a prompt in prefill. */
  merge(query: BigUint64Array, overlaps: readonly WorkerMatch[]): readonly WorkerMatch[] {
    if (this.byBooking.size === 0 || query.length === 0) return overlaps;
    let merged: Map<string, WorkerMatch> | undefined;
    for (const p of this.byBooking.values()) {
      // Most prompts differ at the first block: one comparison each.
      if (p.localHashes[0] !== query[0]) continue;
      const depth = commonPrefix(query, p.localHashes);
      merged ??= new Map(overlaps.map((m) => [workerKey(m.workerId, m.dpRank), m]));
      const key = workerKey(p.workerId, p.dpRank);
      const known = merged.get(key);
      if (known === undefined || known.matchedBlocks < depth) {
        merged.set(key, { workerId: p.workerId, dpRank: p.dpRank, matchedBlocks: depth });
      }
    }
    return merged === undefined ? overlaps : [...merged.values()];
  }
}
