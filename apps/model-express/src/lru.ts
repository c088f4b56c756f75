// Which cached models to evict when the cache is over its limit: least recently used first, never one in use.

export interface CacheEntry {
  key: string;
  bytes: number;
  /** Last time a worker asked for it (ms). */
  lastUsed: number;
  /** Transfers or downloads in progress. */
  inUse: boolean;
}

/** The keys to evict, oldest first, until the total is at most `limit` (or only models in use remain). */
export function chooseEvictions(entries: readonly CacheEntry[], limit: number): string[] {
  let total = entries.reduce((sum, e) => sum + e.bytes, 0);
  const evict: string[] = [];
  for (const entry of [...entries].sort((a, b) => a.lastUsed - b.lastUsed)) {
    if (total <= limit) break;
    if (entry.inUse) continue;
    evict.push(entry.key);
    total -= entry.bytes;
  }
  return evict;
}
