// KV block manager of one data-parallel rank: reference-counted blocks, a prefix cache keyed by sequence hash,
// and an LRU list of cached blocks no request holds, evicted oldest-first when fresh blocks run out.

export interface KvBlock {
  readonly id: number;
  refCount: number;
  /** Set while the block is in the prefix cache. Partial blocks never get one. */
  seqHash: bigint | undefined;
}

/** What a newly cached full block holds, for its `Stored` event. */
export interface CachedBlockInfo {
  seqHash: bigint;
  localHash: bigint;
  parentSeqHash: bigint | undefined;
  tokenIds: number[];
  /** LoRA adapter of the request that computed the block, "" for the base model. */
  loraName: string;
}

export interface BlockCacheListener {
  stored(info: CachedBlockInfo): void;
  removed(seqHash: bigint): void;
}

export class KvBlockManager {
  /** Free blocks outside the prefix cache; taken before any cached block is evicted. */
  private readonly free: KvBlock[] = [];
  private readonly cached = new Map<bigint, KvBlock>();
  /** Cached blocks with refCount 0, least recently released first (Map keeps insertion order). */
  private readonly evictable = new Map<bigint, KvBlock>();
  /**
   * Where eviction reads the oldest evictable block. Kept across calls: everything it has passed was evicted, so it
   * stays at the front, where a fresh `entries()` per eviction first skipped every entry deleted before (an
   * 8,000-token prompt evicting 500 blocks from a full cache scanned thousands of holes per block).
   */
  private oldest: Iterator<[bigint, KvBlock]> | undefined;

  constructor(
    readonly numBlocks: number,
    private readonly listener: BlockCacheListener,
  ) {
    for (let id = numBlocks - 1; id >= 0; id--) this.free.push({ id, refCount: 0, seqHash: undefined });
  }

  /** Blocks a request could still get: free ones plus evictable cached ones. */
  get numFree(): number {
    return this.free.length + this.evictable.size;
  }

  /** Blocks held by at least one request. */
  get numActive(): number {
    return this.numBlocks - this.numFree;
  }

  get numCached(): number {
    return this.cached.size;
  }

  /** Sequence hashes in the prefix cache (held or evictable). */
  cachedHashes(): bigint[] {
    return [...this.cached.keys()];
  }

  /** Evictable hashes in the order they would be evicted. */
  evictionOrder(): bigint[] {
    return [...this.evictable.keys()];
  }

  /** How many of the leading `limit` hashes are cached, stopping at the first miss. */
  cachedPrefixLength(seqHashes: ArrayLike<bigint>, limit: number): number {
    const n = Math.min(limit, seqHashes.length);
    let i = 0;
    while (i < n && this.cached.has(seqHashes[i] as bigint)) i++;
    return i;
  }

  /** How many of the first `n` hashes (all cached) no request holds: reusing them costs free capacity. */
  countEvictable(seqHashes: ArrayLike<bigint>, n: number): number {
    let count = 0;
    for (let i = 0; i < n; i++) if (this.evictable.has(seqHashes[i] as bigint)) count++;
    return count;
  }

  /** Takes a reference on a cached block (a prefix-cache hit). */
  acquireCached(seqHash: bigint): KvBlock {
    const block = this.cached.get(seqHash);
    if (!block) throw new Error(`block ${seqHash} is not cached`);
    if (block.refCount === 0) this.evictable.delete(seqHash);
    block.refCount++;
    return block;
  }

  /** A fresh block for one request, evicting the least recently used cached block when none is free. */
  allocate(): KvBlock | undefined {
    let block = this.free.pop();
    if (!block) {
      let oldest = this.oldest?.next();
      if (!oldest || oldest.done) {
        // A finished iterator stays finished: blocks that became evictable since need a new one.
        this.oldest = this.evictable.entries();
        oldest = this.oldest.next();
      }
      if (oldest.done) return undefined;
      const [seqHash, victim] = oldest.value;
      this.evictable.delete(seqHash);
      this.cached.delete(seqHash);
      victim.seqHash = undefined;
      this.listener.removed(seqHash);
      block = victim;
    }
    block.refCount = 1;
    return block;
  }

  /**
   * Enters a full, computed block into the prefix cache. When another block already caches the same hash (two
   * requests computed the same prefix at once) this one stays outside the cache: one cached copy, one event.
   */
  cache(block: KvBlock, info: CachedBlockInfo): void {
    if (block.seqHash !== undefined || this.cached.has(info.seqHash)) return;
    block.seqHash = info.seqHash;
    this.cached.set(info.seqHash, block);
    this.listener.stored(info);
  }

  /** Drops one reference on each block, last block first, so a request's tail is evicted before its prefix. */
  release(blocks: KvBlock[]): void {
    for (let i = blocks.length - 1; i >= 0; i--) {
      const block = blocks[i] as KvBlock;
      block.refCount--;
      if (block.refCount > 0) continue;
      if (block.seqHash === undefined) this.free.push(block);
      else this.evictable.set(block.seqHash, block);
    }
  }

  /** Empties the prefix cache: evictable blocks become free, held blocks stay with their requests uncached. */
  clear(): void {
    for (const block of this.cached.values()) {
      block.seqHash = undefined;
      if (block.refCount === 0) this.free.push(block);
    }
    this.cached.clear();
    this.evictable.clear();
    this.oldest = undefined;
  }
}
