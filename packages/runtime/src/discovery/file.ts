import { randomBytes } from "node:crypto";
import { type FSWatcher, watch as watchFs } from "node:fs";
import { mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { withFileLock } from "./file-lock.js";
import { DiscoveryStatus } from "./status.js";
import type { Discovery, DiscoveryEntry, DiscoveryStatusEvent, DiscoveryWatch, Lease } from "./types.js";
import { WatchState } from "./watch-state.js";

interface FileEntry {
  value: unknown;
  /** Epoch ms after which the entry counts as gone unless its owner heartbeats. */
  expiresAt: number;
  /** `{discovery id}/{lease id}`: only the lease that wrote an entry may delete it. */
  owner: string;
}

interface FileContent {
  version: 1;
  entries: Record<string, FileEntry>;
}

interface OwnLease {
  value: unknown;
  owner: string;
}

/**
 * Discovery shared by the processes of one host through a JSON file. Writers take a lock file and replace the
 * file atomically (temp file + rename), so readers never lock. Entries expire `ttlMs` after their owner's last
 * heartbeat; watchers notice changes through fs.watch and notice expiries by polling.
 */
export class FileDiscovery implements Discovery {
  private readonly id = randomBytes(6).toString("hex");
  private readonly own = new Map<string, OwnLease>();
  private readonly watches = new Set<WatchState>();
  private readonly heartbeat: NodeJS.Timeout;
  private beating: Promise<void> = Promise.resolve();
  private readonly status = new DiscoveryStatus();
  private closed = false;

  constructor(
    private readonly filePath: string,
    readonly ttlMs: number,
  ) {
    this.heartbeat = setInterval(() => {
      this.beating = this.refresh().then(
        () => this.status.heartbeatOk(),
        (error: unknown) => {
          // Retried on the next tick (the TTL allows for two misses), but told: a run of misses loses the entries.
          this.status.heartbeatFailed(error instanceof Error ? error.message : String(error));
        },
      );
    }, ttlMs / 3);
    this.heartbeat.unref();
  }

  onStatus(listener: (event: DiscoveryStatusEvent) => void): () => void {
    return this.status.on(listener);
  }

  private get lockPath(): string {
    return `${this.filePath}.lock`;
  }

  async register(key: string, value: unknown): Promise<Lease> {
    if (this.closed) throw new Error("discovery is closed");
    const own: OwnLease = {
      value: JSON.parse(JSON.stringify(value)),
      owner: `${this.id}/${randomBytes(6).toString("hex")}`,
    };
    await this.update((entries, now) => {
      entries[key] = { value: own.value, owner: own.owner, expiresAt: now + this.ttlMs };
    });
    this.own.set(key, own);
    return { key, revoke: () => this.revoke(key, own) };
  }

  async list(prefix: string): Promise<DiscoveryEntry[]> {
    const now = Date.now();
    const { entries } = await this.read();
    return Object.entries(entries)
      .filter(([key, entry]) => key.startsWith(prefix) && entry.expiresAt > now)
      .map(([key, entry]) => ({ key, value: entry.value }));
  }

  watch(prefix: string): DiscoveryWatch {
    let watcher: FSWatcher | undefined;
    let poll: NodeJS.Timeout | undefined;
    let syncing = false;
    let again = false;
    const state = new WatchState(prefix, () => {
      watcher?.close();
      clearInterval(poll);
      this.watches.delete(state);
    });
    const sync = async () => {
      if (syncing) {
        again = true;
        return;
      }
      syncing = true;
      do {
        again = false;
        const entries = await this.list(prefix).catch(() => undefined);
        if (entries && !state.isStopped)
          state.sync(entries.map((entry) => [entry.key, entry.value] as const));
      } while (again && !state.isStopped);
      syncing = false;
    };
    this.watches.add(state);
    void mkdir(dirname(this.filePath), { recursive: true }).then(() => {
      if (state.isStopped) return;
      try {
        const name = basename(this.filePath);
        // The file is replaced by rename, so watch its directory rather than its inode.
        watcher = watchFs(dirname(this.filePath), (_event, file) => {
          if (file === null || file === name) void sync();
        });
        watcher.on("error", () => watcher?.close());
        watcher.unref();
      } catch {
        // fs.watch is unavailable on some filesystems; polling alone still sees every change.
      }
    });
    // Polling catches expiries (which change no file) and any change fs.watch missed.
    poll = setInterval(() => void sync(), Math.max(50, Math.min(1000, this.ttlMs / 4)));
    poll.unref();
    void sync();
    return state.asWatch();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    await this.beating;
    for (const state of [...this.watches]) state.stop();
    const own = [...this.own];
    this.own.clear();
    if (own.length > 0) {
      await this.update((entries) => {
        for (const [key, lease] of own) if (entries[key]?.owner === lease.owner) delete entries[key];
      });
    }
  }

  private async revoke(key: string, lease: OwnLease): Promise<void> {
    if (this.own.get(key) !== lease) return;
    this.own.delete(key);
    await this.beating;
    await this.update((entries) => {
      if (entries[key]?.owner === lease.owner) delete entries[key];
    });
  }

  /** Heartbeat: extends every own entry, re-adding any that expired while this process was stalled. */
  private async refresh(): Promise<void> {
    if (this.own.size === 0) return;
    await this.update((entries, now) => {
      for (const [key, lease] of this.own) {
        entries[key] = { value: lease.value, owner: lease.owner, expiresAt: now + this.ttlMs };
      }
    });
  }

  /** Read-modify-write under the lock; expired entries are dropped on every write. */
  private async update(change: (entries: Record<string, FileEntry>, now: number) => void): Promise<void> {
    await mkdir(dirname(this.filePath), { recursive: true });
    await withFileLock(this.lockPath, async () => {
      const content = await this.read();
      const now = Date.now();
      for (const [key, entry] of Object.entries(content.entries))
        if (entry.expiresAt <= now) delete content.entries[key];
      change(content.entries, now);
      const temp = `${this.filePath}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
      try {
        await writeFile(temp, JSON.stringify(content));
        await rename(temp, this.filePath);
      } catch (error) {
        await unlink(temp).catch(() => {});
        throw error;
      }
    });
  }

  private async read(): Promise<FileContent> {
    let text: string;
    try {
      text = await readFile(this.filePath, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return { version: 1, entries: {} };
      throw error;
    }
    return parseContent(text);
  }
}

/** Tolerates a file that is empty or not ours: it reads as no entries and is replaced on the next write. */
function parseContent(text: string): FileContent {
  try {
    const parsed = JSON.parse(text) as Partial<FileContent> | null;
    if (parsed && typeof parsed.entries === "object" && parsed.entries !== null) {
      return { version: 1, entries: parsed.entries };
    }
  } catch {
    // Fall through to empty.
  }
  return { version: 1, entries: {} };
}
