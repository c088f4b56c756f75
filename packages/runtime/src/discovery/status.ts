import type { DiscoveryStatusEvent } from "./types.js";

/**
 * A discovery backend's connection state, told to listeners once per transition: a backend reports every failed
 * heartbeat or lost connection, and listeners (the component host's log and counters) hear only the changes.
 */
export class DiscoveryStatus {
  private readonly listeners = new Set<(event: DiscoveryStatusEvent) => void>();
  private up = true;
  private failing = false;

  get connected(): boolean {
    return this.up;
  }

  on(listener: (event: DiscoveryStatusEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  disconnected(reason: string): void {
    if (!this.up) return;
    this.up = false;
    this.emit({ type: "disconnected", reason });
  }

  reconnected(): void {
    if (this.up) return;
    this.up = true;
    this.emit({ type: "reconnected" });
  }

  heartbeatFailed(reason: string): void {
    if (this.failing) return;
    this.failing = true;
    this.emit({ type: "heartbeat_failed", reason });
  }

  heartbeatOk(): void {
    if (!this.failing) return;
    this.failing = false;
    this.emit({ type: "heartbeat_recovered" });
  }

  /** Every entry this process owns was written again (after a reconnect or a lost lease). */
  reregistered(entries: number): void {
    this.emit({ type: "reregistered", entries });
  }

  private emit(event: DiscoveryStatusEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure must not stop the backend's own recovery.
      }
    }
  }
}
