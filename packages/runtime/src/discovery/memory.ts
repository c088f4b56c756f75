import type { Discovery, DiscoveryEntry, DiscoveryWatch, Lease } from "./types.js";
import { WatchState } from "./watch-state.js";

interface StoredEntry {
  value: unknown;
  /** Identifies the lease that wrote the entry, so an older lease's revoke cannot delete a newer registration. */
  owner: symbol;
}

class MemoryStore {
  readonly entries = new Map<string, StoredEntry>();
  readonly watchers = new Set<WatchState>();

  put(key: string, entry: StoredEntry): void {
    this.entries.set(key, entry);
    for (const watcher of this.watchers) watcher.put(key, entry.value);
  }

  delete(key: string, owner: symbol): void {
    if (this.entries.get(key)?.owner !== owner) return;
    this.entries.delete(key);
    for (const watcher of this.watchers) watcher.delete(key);
  }
}

/**
 * Discovery within one process: entries live until revoked or until their Discovery closes. Each instance is its
 * own registry; apps in one process share one by being given the same instance (`kvasir serve`, tests).
 */
export class MemoryDiscovery implements Discovery {
  private readonly store = new MemoryStore();
  private readonly leases = new Set<Lease>();
  private readonly watches = new Set<WatchState>();

  async register(key: string, value: unknown): Promise<Lease> {
    // Stored as a JSON copy, as the other backends do, so later mutation by the caller is not visible.
    const stored = JSON.parse(JSON.stringify(value)) as unknown;
    const owner = Symbol(key);
    this.store.put(key, { value: stored, owner });
    const lease: Lease = {
      key,
      revoke: async () => {
        this.leases.delete(lease);
        this.store.delete(key, owner);
      },
    };
    this.leases.add(lease);
    return lease;
  }

  async list(prefix: string): Promise<DiscoveryEntry[]> {
    return [...this.store.entries]
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, entry]) => ({ key, value: entry.value }));
  }

  watch(prefix: string): DiscoveryWatch {
    const state = new WatchState(prefix, () => {
      this.store.watchers.delete(state);
      this.watches.delete(state);
    });
    state.sync([...this.store.entries].map(([key, entry]) => [key, entry.value] as const));
    this.store.watchers.add(state);
    this.watches.add(state);
    return state.asWatch();
  }

  async close(): Promise<void> {
    for (const watch of [...this.watches]) watch.stop();
    await Promise.all([...this.leases].map((lease) => lease.revoke()));
  }
}
