// Encoder for the packed event layout that NativeIndex.applyEvents takes (native/README.md, "Packed events"), and
// for the lookups that NativeIndex.runBatch also takes in the same buffer.
import type { KvCacheEvent } from "@kvasir/kv";

export const EVENT_HEADER_BYTES = 40;
export const EVENT_KIND = { stored: 1, removed: 2, cleared: 3, lookup: 4 } as const;
const HAS_PARENT = 1;

function words(a: BigUint64Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length * 2);
}

/** Appends events to one growable buffer; `take()` hands the bytes over and starts a new batch. */
export class PackedEventWriter {
  private buf = new ArrayBuffer(64 * 1024);
  private u32 = new Uint32Array(this.buf);
  private u64 = new BigUint64Array(this.buf);
  private used = 0;
  private count = 0;
  private lookups = 0;
  // The last record: its offset, kind and (for Stored) the sequence hash of its last block.
  private last = 0;
  private lastKind = 0;
  private lastSeq: bigint | undefined;

  /** Bytes written since the last take(). */
  get byteLength(): number {
    return this.used;
  }

  /** Events pushed since the last take() (chained ones share a record). */
  get events(): number {
    return this.count;
  }

  /**
   * Appends one event. A Stored event that continues the previous record's chain (same worker and dp rank, its
   * parent is that record's last block) extends that record, and so does a Removed event after a Removed one:
   * applying the merged record is the same as applying both, with one header and one parent lookup.
   */
  push(ev: KvCacheEvent): void {
    const d = ev.data;
    switch (d.kind) {
      case "stored": {
        const n = Math.min(d.localHashes.length, d.seqHashes.length);
        const chained =
          n > 0 &&
          this.lastKind === EVENT_KIND.stored &&
          d.parentSeqHash === this.lastSeq &&
          this.sameWorker(ev);
        const o = chained
          ? this.extend(ev, n, n * 16)
          : this.header(EVENT_KIND.stored, ev, d.parentSeqHash, n, n * 16);
        this.lastSeq = n > 0 ? d.seqHashes[n - 1] : undefined;
        const lw = words(d.localHashes);
        const sw = words(d.seqHashes);
        const u32 = this.u32;
        for (let i = 0, w = o / 4; i < n; i++, w += 4) {
          u32[w] = lw[2 * i] as number;
          u32[w + 1] = lw[2 * i + 1] as number;
          u32[w + 2] = sw[2 * i] as number;
          u32[w + 3] = sw[2 * i + 1] as number;
        }
        break;
      }
      case "removed": {
        const n = d.seqHashes.length;
        const chained = this.lastKind === EVENT_KIND.removed && this.sameWorker(ev);
        const o = chained
          ? this.extend(ev, n, n * 8)
          : this.header(EVENT_KIND.removed, ev, undefined, n, n * 8);
        this.u32.set(words(d.seqHashes), o / 4);
        break;
      }
      case "cleared":
        this.header(EVENT_KIND.cleared, ev, undefined, 0, 0);
        break;
    }
  }

  /** Appends a lookup of a prompt's local block hashes (runBatch only; applyEvents refuses it). */
  pushLookup(localHashes: BigUint64Array): void {
    const n = localHashes.length;
    this.reserve(EVENT_HEADER_BYTES + n * 8);
    const o = this.used;
    this.u32.fill(0, o / 4, (o + EVENT_HEADER_BYTES) / 4);
    this.u32[o / 4] = EVENT_KIND.lookup;
    this.u32[o / 4 + 8] = n;
    this.u32.set(words(localHashes), (o + EVENT_HEADER_BYTES) / 4);
    // Nothing chains onto a lookup.
    this.last = o;
    this.lastKind = EVENT_KIND.lookup;
    this.lastSeq = undefined;
    this.used += EVENT_HEADER_BYTES + n * 8;
    this.lookups++;
  }

  /** Lookups pushed since the last take(). */
  get lookupCount(): number {
    return this.lookups;
  }

  take(): Uint8Array {
    const out = new Uint8Array(this.buf.slice(0, this.used));
    this.used = 0;
    this.count = 0;
    this.lookups = 0;
    this.lastKind = 0;
    this.lastSeq = undefined;
    return out;
  }

  private sameWorker(ev: KvCacheEvent): boolean {
    const q = this.last / 8;
    return (
      this.u64[q + 1] === BigInt.asUintN(64, ev.workerId) && this.u32[this.last / 4 + 1] === ev.dpRank >>> 0
    );
  }

  /** Grows the last record by `count` items; returns the byte offset of the new items. */
  private extend(ev: KvCacheEvent, count: number, body: number): number {
    this.reserve(body);
    const o = this.used;
    const w = this.last / 4;
    this.u32[w + 8] = (this.u32[w + 8] as number) + count;
    this.u64[this.last / 8 + 2] = BigInt.asUintN(64, ev.eventId);
    this.used += body;
    this.count++;
    return o;
  }

  /** Writes an event header and reserves its body; returns the body's byte offset. */
  private header(
    kind: number,
    ev: KvCacheEvent,
    parent: bigint | undefined,
    count: number,
    body: number,
  ): number {
    this.reserve(EVENT_HEADER_BYTES + body);
    const o = this.used;
    const w = o / 4;
    const q = o / 8;
    this.u32[w] = kind | ((parent !== undefined ? HAS_PARENT : 0) << 8);
    this.u32[w + 1] = ev.dpRank >>> 0;
    this.u64[q + 1] = BigInt.asUintN(64, ev.workerId);
    this.u64[q + 2] = BigInt.asUintN(64, ev.eventId);
    this.u64[q + 3] = parent === undefined ? 0n : BigInt.asUintN(64, parent);
    this.u32[w + 8] = count;
    this.u32[w + 9] = 0;
    this.last = o;
    this.lastKind = kind;
    this.lastSeq = undefined;
    this.used += EVENT_HEADER_BYTES + body;
    this.count++;
    return o + EVENT_HEADER_BYTES;
  }

  private reserve(bytes: number): void {
    if (this.used + bytes <= this.buf.byteLength) return;
    let size = this.buf.byteLength * 2;
    while (size < this.used + bytes) size *= 2;
    const next = new ArrayBuffer(size);
    new Uint8Array(next).set(new Uint8Array(this.buf, 0, this.used));
    this.buf = next;
    this.u32 = new Uint32Array(next);
    this.u64 = new BigUint64Array(next);
  }
}

/** One packed buffer holding `events` in order. */
export function packEvents(events: readonly KvCacheEvent[]): Uint8Array {
  const w = new PackedEventWriter();
  for (const ev of events) w.push(ev);
  return w.take();
}
