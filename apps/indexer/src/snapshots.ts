import { redactedError } from "@kvasir/runtime";
import type { IndexBackend } from "./index-backend.js";
import type { IndexerMetrics } from "./metrics.js";
import { type Snapshot, SnapshotStore, type Watermarks } from "./snapshot-store.js";
import { Snapshotter } from "./snapshotter.js";

export interface SnapshotConfig {
  redisUrl: string;
  /** Password (when not in the URL) and CA certificate for TLS. */
  redisPassword?: string;
  redisTlsCaPath?: string;
  key: string;
  intervalEvents: number;
  intervalSeconds: number;
}

export interface SnapshotsLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

type OnStop = (name: string, action: () => unknown) => void;

/** Connects to the Redis that holds snapshots; its close goes to `onStop`. Unreachable Redis fails the start. */
export async function openSnapshots(
  config: SnapshotConfig,
  onStop: OnStop,
  log: SnapshotsLog,
): Promise<Snapshots> {
  const store = new SnapshotStore(
    config.redisUrl,
    config.key,
    (error) => log.warn("redis error", { error: redactedError(error, [config.redisPassword]) }),
    {
      ...(config.redisPassword ? { password: config.redisPassword } : {}),
      ...(config.redisTlsCaPath ? { tlsCaPath: config.redisTlsCaPath } : {}),
    },
  );
  await store.connect();
  onStop("redis", () => store.close());
  return new Snapshots(store, config, log);
}

export interface ScheduleOptions {
  appliedEvents: () => number;
  /** The index and the watermarks that go with it, read in one tick. */
  capture: () => Snapshot;
  metrics: IndexerMetrics;
  /** Whether stopping writes a final snapshot: not after a start that failed part-way, whose state is partial. */
  final: () => boolean;
}

/** The indexer's snapshots in Redis: the warm start from the last one, and taking new ones on schedule. */
export class Snapshots {
  constructor(
    private readonly store: SnapshotStore,
    private readonly config: SnapshotConfig,
    private readonly log: SnapshotsLog,
  ) {}

  /**
   * Loads the last snapshot into the index. Returns where each stream stood when it was taken, or undefined
   * when starting cold: no snapshot, one written with other settings, or one this index cannot read.
   */
  async restore(backend: IndexBackend, blockSize: number): Promise<Watermarks | undefined> {
    const { key } = this.config;
    const log = this.log;
    const snapshot = await this.store.load();
    if (!snapshot) return undefined;
    if (snapshot.backend !== backend.name || snapshot.blockSize !== blockSize) {
      log.warn("ignoring snapshot written with other settings", {
        snapshot_backend: snapshot.backend,
        snapshot_block_size: snapshot.blockSize,
        backend: backend.name,
        block_size: blockSize,
      });
      return undefined;
    }
    try {
      backend.restore(snapshot.index);
    } catch (error) {
      // A snapshot this index cannot read is no reason not to serve: start cold, and replay what engines hold.
      backend.index.clear();
      log.warn("snapshot unreadable, starting cold", { key, error: String(error) });
      return undefined;
    }
    log.info("restored snapshot", {
      key,
      taken_at: new Date(snapshot.takenAtMs).toISOString(),
      workers: new Set(backend.workerBlocks().map((w) => w.workerId)).size,
    });
    return snapshot.watermarks;
  }

  /** Takes snapshots on the configured schedule; its stop (with the final snapshot) goes to `onStop`. */
  schedule(options: ScheduleOptions, onStop: OnStop): Snapshotter {
    const { metrics } = options;
    const snapshotter = new Snapshotter(
      this.store,
      this.config,
      options.appliedEvents,
      options.capture,
      (ok, error) => {
        metrics.snapshot(ok);
        if (!ok) this.log.warn("snapshot failed", { error: String(error) });
      },
    );
    onStop("snapshots", () => (options.final() ? snapshotter.close() : snapshotter.stop()));
    return snapshotter;
  }
}

/** The index as it is now, with the watermarks read in the same tick, so the two agree. */
export function snapshotOf(backend: IndexBackend, blockSize: number, watermarks: Watermarks): Snapshot {
  return { index: backend.snapshot(), backend: backend.name, watermarks, blockSize, takenAtMs: Date.now() };
}
