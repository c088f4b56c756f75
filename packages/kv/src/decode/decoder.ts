// Turns one engine's ZMQ KV event batches into normalized events. Engine hashes are never lookup keys: local and
// sequence hashes are recomputed from token_ids (+ LoRA name, cache salt); the engine's hashes only index a
// per-dp-rank map to translate BlockRemoved and to find a Stored event's parent.
import type { KvCacheEvent, StoredData } from "../events.js";
import { computeLocalHashes, nextSeqHash } from "../hash.js";
import {
  DROP_REASONS,
  type DropReason,
  type EngineRemoved,
  type EngineStored,
  parseBatch,
} from "./engine.js";

export interface EngineEventDecoderOptions {
  workerId: bigint;
  /** dp rank for batches that do not carry one. Default 0. */
  defaultDpRank?: number;
  /** event_id of the first normalized event. Default 0. */
  firstEventId?: bigint;
  /** Cache salt applied when an event carries none (vLLM does not publish the salt). */
  cacheSalt?: string;
  /** Media whose blocks count as device cache, compared case-insensitively. Default ["GPU"]; nil always counts. */
  media?: readonly string[];
}

/** Engine hash -> our sequence hash for one dp rank, with reference counts on sequence hashes. */
interface RankState {
  engineToSeq: Map<bigint, bigint>;
  // Two engine hashes can name one sequence hash (the engine mixed in keys we do not see, e.g. multimodal
  // hashes); the sequence hash is removed only when no engine block maps to it any more.
  seqRefs: Map<bigint, number>;
}

// Attention kinds whose blocks are not a plain full-attention prefix cache.
const NON_MAIN_KINDS = new Set(["sliding_window", "chunked_local_attention", "mamba", "cross_attention"]);

export class EngineEventDecoder {
  readonly workerId: bigint;
  private readonly defaultDpRank: number;
  private readonly cacheSalt: string | undefined;
  private readonly media: Set<string>;
  private readonly ranks = new Map<number, RankState>();
  private readonly dropCounts: Record<DropReason, number>;
  private eventId: bigint;
  private unknownRemovedCount = 0;

  constructor(opts: EngineEventDecoderOptions) {
    this.workerId = opts.workerId;
    this.defaultDpRank = opts.defaultDpRank ?? 0;
    this.eventId = opts.firstEventId ?? 0n;
    this.cacheSalt = opts.cacheSalt;
    this.media = new Set((opts.media ?? ["GPU"]).map((m) => m.toUpperCase()));
    this.dropCounts = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
  }

  /** Events dropped so far, per reason. */
  get drops(): Readonly<Record<DropReason, number>> {
    return this.dropCounts;
  }

  /** BlockRemoved hashes that named no block we know (already removed, or stored before we listened). */
  get unknownRemovedHashes(): number {
    return this.unknownRemovedCount;
  }

  /** event_id the next normalized event will carry. */
  get nextEventId(): bigint {
    return this.eventId;
  }

  /** Engine blocks currently known for a dp rank. */
  knownBlocks(dpRank: number): number {
    return this.ranks.get(dpRank)?.engineToSeq.size ?? 0;
  }

  /** Decodes one msgpack EventBatch payload (the third ZMQ frame). Never throws. */
  decodeBatch(payload: Uint8Array): KvCacheEvent[] {
    const batch = parseBatch(payload);
    if (batch === undefined) {
      this.dropCounts.malformed++;
      return [];
    }
    const dpRank = batch.dpRank ?? this.defaultDpRank;
    const out: KvCacheEvent[] = [];
    for (const ev of batch.events) {
      switch (ev.type) {
        case "drop":
          this.dropCounts[ev.reason]++;
          break;
        case "stored":
          this.stored(dpRank, ev, out);
          break;
        case "removed":
          this.removed(dpRank, ev, out);
          break;
        case "cleared":
          this.ranks.delete(dpRank);
          out.push(this.emit(dpRank, { kind: "cleared" }));
          break;
      }
    }
    return out;
  }

  /**
   * The engine restarted (its ZMQ seq went backwards): forget its blocks. Returns a Cleared event for the given
   * rank, or for every rank seen so far (at least the default rank) when none is given.
   */
  engineRestarted(dpRank?: number): KvCacheEvent[] {
    const ranks =
      dpRank !== undefined ? [dpRank] : this.ranks.size > 0 ? [...this.ranks.keys()] : [this.defaultDpRank];
    return ranks.map((r) => {
      this.ranks.delete(r);
      return this.emit(r, { kind: "cleared" });
    });
  }

  private emit(dpRank: number, data: KvCacheEvent["data"]): KvCacheEvent {
    const ev = { workerId: this.workerId, dpRank, eventId: this.eventId, data };
    this.eventId++;
    return ev;
  }

  private rank(dpRank: number): RankState {
    let st = this.ranks.get(dpRank);
    if (st === undefined) {
      st = { engineToSeq: new Map(), seqRefs: new Map() };
      this.ranks.set(dpRank, st);
    }
    return st;
  }

  private mediumCounts(medium: string | undefined): boolean {
    return medium === undefined || this.media.has(medium.toUpperCase());
  }

  /** The reason to drop a Stored event before hashing, if any. */
  private storedDropReason(ev: EngineStored): DropReason | undefined {
    if (ev.groupIdx !== 0 || (ev.specKind !== undefined && NON_MAIN_KINDS.has(ev.specKind))) {
      return "non_main_attention_group";
    }
    if (!this.mediumCounts(ev.medium)) return "unknown_medium";
    if (ev.blockSize === 0 || ev.blockHashes.length === 0 || ev.tokenIds.length === 0) return "placeholder";
    const distinct = new Set(ev.blockHashes);
    if (
      distinct.size !== ev.blockHashes.length ||
      (ev.parentHash !== undefined && distinct.has(ev.parentHash))
    ) {
      return "self_referencing_hashes";
    }
    return undefined;
  }

  private stored(dpRank: number, ev: EngineStored, out: KvCacheEvent[]): void {
    const reason = this.storedDropReason(ev);
    if (reason !== undefined) {
      this.dropCounts[reason]++;
      return;
    }
    const n = ev.blockHashes.length;
    const blockSize = ev.blockSize ?? ev.tokenIds.length / n;
    if (!Number.isInteger(blockSize) || blockSize < 1 || ev.tokenIds.length !== n * blockSize) {
      this.dropCounts.unaligned_blocks++;
      return;
    }
    const st = this.rank(dpRank);
    let parentSeq: bigint | undefined;
    if (ev.parentHash !== undefined) {
      parentSeq = st.engineToSeq.get(ev.parentHash);
      if (parentSeq === undefined) {
        this.dropCounts.unknown_parent++;
        return;
      }
    }
    const loraName = ev.loraName ?? "";
    const cacheSalt = ev.cacheSalt ?? this.cacheSalt;
    const localHashes = computeLocalHashes(ev.tokenIds, blockSize, {
      loraName,
      ...(cacheSalt !== undefined ? { cacheSalt } : {}),
    });
    const seqHashes = new BigUint64Array(n);
    let prev = parentSeq;
    let duplicates = 0;
    for (let i = 0; i < n; i++) {
      prev = nextSeqHash(prev, localHashes[i] as bigint);
      seqHashes[i] = prev;
      if (st.engineToSeq.get(ev.blockHashes[i] as bigint) === prev) duplicates++;
    }
    if (duplicates === n) {
      this.dropCounts.duplicate_stores++;
      return;
    }
    for (let i = 0; i < n; i++) this.bind(st, ev.blockHashes[i] as bigint, seqHashes[i] as bigint);
    const data: StoredData = {
      kind: "stored",
      localHashes,
      seqHashes,
      tokenIds: Uint32Array.from(ev.tokenIds),
      blockSize,
      loraName,
    };
    if (parentSeq !== undefined) data.parentSeqHash = parentSeq;
    out.push(this.emit(dpRank, data));
  }

  private bind(st: RankState, engineHash: bigint, seq: bigint): void {
    const old = st.engineToSeq.get(engineHash);
    if (old === seq) return;
    if (old !== undefined) this.unref(st, old);
    st.engineToSeq.set(engineHash, seq);
    st.seqRefs.set(seq, (st.seqRefs.get(seq) ?? 0) + 1);
  }

  /** Drops one reference; true when the sequence hash is no longer held by any engine block. */
  private unref(st: RankState, seq: bigint): boolean {
    const refs = (st.seqRefs.get(seq) ?? 1) - 1;
    if (refs > 0) {
      st.seqRefs.set(seq, refs);
      return false;
    }
    st.seqRefs.delete(seq);
    return true;
  }

  private removed(dpRank: number, ev: EngineRemoved, out: KvCacheEvent[]): void {
    if (ev.groupIdx !== 0) {
      this.dropCounts.non_main_attention_group++;
      return;
    }
    if (!this.mediumCounts(ev.medium)) {
      this.dropCounts.unknown_medium++;
      return;
    }
    const st = this.ranks.get(dpRank);
    const gone: bigint[] = [];
    for (const h of ev.blockHashes) {
      const seq = st?.engineToSeq.get(h);
      if (st === undefined || seq === undefined) {
        this.unknownRemovedCount++;
        continue;
      }
      st.engineToSeq.delete(h);
      if (this.unref(st, seq)) gone.push(seq);
    }
    if (gone.length > 0)
      out.push(this.emit(dpRank, { kind: "removed", seqHashes: BigUint64Array.from(gone) }));
  }
}
