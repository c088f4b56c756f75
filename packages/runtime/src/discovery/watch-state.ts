import { AsyncQueue } from "../async-queue.js";
import type { DiscoveryEvent, DiscoveryWatch } from "./types.js";

/**
 * The consumer side of a watch: turns snapshots and changes into put/delete events for one prefix, dropping puts
 * that repeat the value the watcher already has (heartbeats re-put unchanged values).
 */
export class WatchState {
  private readonly known = new Map<string, string>();
  private readonly queue: AsyncQueue<DiscoveryEvent>;
  private stopped = false;

  constructor(
    readonly prefix: string,
    private readonly onStop: () => void,
  ) {
    this.queue = new AsyncQueue<DiscoveryEvent>(() => this.stop());
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Keys the watcher currently holds. */
  keys(): string[] {
    return [...this.known.keys()];
  }

  put(key: string, value: unknown): void {
    if (this.stopped || !key.startsWith(this.prefix)) return;
    const json = JSON.stringify(value);
    if (this.known.get(key) === json) return;
    this.known.set(key, json);
    this.queue.push({ type: "put", key, value });
  }

  delete(key: string): void {
    if (this.stopped || !this.known.delete(key)) return;
    this.queue.push({ type: "delete", key });
  }

  /** Reconciles with a full view of the store: new or changed entries become puts, missing ones deletes. */
  sync(entries: Iterable<readonly [string, unknown]>): void {
    const present = new Set<string>();
    for (const [key, value] of entries) {
      if (!key.startsWith(this.prefix)) continue;
      present.add(key);
      this.put(key, value);
    }
    for (const key of [...this.known.keys()]) if (!present.has(key)) this.delete(key);
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.queue.end();
    this.onStop();
  }

  asWatch(): DiscoveryWatch {
    const queue = this.queue;
    return {
      stop: () => this.stop(),
      [Symbol.asyncIterator]: () => queue[Symbol.asyncIterator](),
    };
  }
}
