import type { Snapshot, SnapshotStore } from "./snapshot-store.js";

export interface SnapshotterOptions {
  /** Snapshot once this many events were applied since the last one. */
  intervalEvents: number;
  /** And at least this often while events arrive. */
  intervalSeconds: number;
}

/**
 * Writes snapshots on an event count or a timer, one at a time. The state is captured synchronously (the index
 * and its watermarks in the same tick, so they agree) and written afterwards.
 */
export class Snapshotter {
  private lastEvents: number;
  private writing: Promise<void> | undefined;
  // Asked for while a write was in flight: take another right after it, so the newest events are not left out.
  private again = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: SnapshotStore,
    private readonly options: SnapshotterOptions,
    private readonly appliedEvents: () => number,
    private readonly capture: () => Snapshot,
    private readonly done: (ok: boolean, error?: unknown) => void,
  ) {
    this.lastEvents = appliedEvents();
    this.timer = setInterval(() => {
      if (this.appliedEvents() !== this.lastEvents) void this.take();
    }, options.intervalSeconds * 1000);
    this.timer.unref();
  }

  /** Call after applying events: snapshots when enough have accumulated. */
  eventsApplied(): void {
    if (this.appliedEvents() - this.lastEvents >= this.options.intervalEvents) void this.take();
  }

  /** Takes a snapshot now; while one is being written, takes the next one as soon as it is done. */
  take(): Promise<void> {
    if (this.writing) {
      this.again = true;
      return this.writing;
    }
    this.lastEvents = this.appliedEvents();
    const snapshot = this.capture();
    this.writing = this.store
      .save(snapshot)
      .then(
        () => this.done(true),
        (error: unknown) => this.done(false, error),
      )
      .finally(() => {
        this.writing = undefined;
        if (this.again) {
          this.again = false;
          void this.take();
        }
      });
    return this.writing;
  }

  /** Stops the timer and waits for a write in flight; takes no more snapshots on its own. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.again = false;
    await this.writing;
  }

  /** Stops, then writes a final snapshot of the state as it is now. */
  async close(): Promise<void> {
    await this.stop();
    await this.take();
  }
}
