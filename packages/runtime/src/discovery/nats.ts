import type { KV, KvEntry, NatsConnection, QueuedIterator } from "nats";
import { Events, KvWatchInclude } from "nats";
import { connectNats, drainNats } from "../nats-connection.js";
import type { NatsAuth } from "../plane-security.js";
import { decodeKvKey, encodeKvKey } from "./key-codec.js";
import { DiscoveryStatus } from "./status.js";
import type { Discovery, DiscoveryEntry, DiscoveryStatusEvent, DiscoveryWatch, Lease } from "./types.js";
import { WatchState } from "./watch-state.js";

export interface NatsDiscoveryOptions {
  natsServers?: string;
  /** Credentials and TLS. */
  natsAuth?: NatsAuth;
  bucket: string;
  ttlMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const RESTORE_BACKOFF_MS = { first: 250, max: 5000 };

/** One watch's way back after a reconnect: follow the bucket again from its current values. */
interface Followed {
  state: WatchState;
  refollow(): void;
}

/**
 * Discovery in a JetStream KV bucket. nats-server 2.9 has no per-key TTL, so the bucket's max age is the TTL and
 * every owner re-puts its entries each third of it. An entry that ages out produces no watch event, so every
 * watch also sweeps: it lists the bucket's keys periodically and reports the ones that vanished as deletes.
 *
 * A NATS that comes back (possibly restarted with an empty store) gets the bucket created again, every own entry
 * put again and every watch followed again; for one TTL after a reconnect sweeps delete nothing, since owners are
 * still re-putting what the new server lost.
 */
export class NatsDiscovery implements Discovery {
  private readonly own = new Map<string, { value: Uint8Array }>();
  private readonly watches = new Set<Followed>();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly status = new DiscoveryStatus();
  private beating: Promise<void> = Promise.resolve();
  private beatInFlight = false;
  private restoring = false;
  private restoreAgain = false;
  private reconnectedAt = Number.NEGATIVE_INFINITY;
  private closed = false;

  private constructor(
    private readonly connection: NatsConnection,
    private kv: KV,
    private readonly bucket: string,
    /** The bucket's actual TTL (an existing bucket keeps the one it was created with). */
    readonly ttlMs: number,
  ) {
    this.heartbeat = setInterval(() => this.beat(), ttlMs / 3);
    this.heartbeat.unref();
    void this.monitor();
  }

  static async open(options: NatsDiscoveryOptions): Promise<NatsDiscovery> {
    const connection = await connectNats(options.natsServers, "kvasir-discovery", options.natsAuth);
    try {
      const kv = await openBucket(connection, options.bucket, options.ttlMs);
      const { ttl } = await kv.status();
      return new NatsDiscovery(connection, kv, options.bucket, ttl > 0 ? ttl : options.ttlMs);
    } catch (error) {
      await drainNats(connection);
      throw error;
    }
  }

  onStatus(listener: (event: DiscoveryStatusEvent) => void): () => void {
    return this.status.on(listener);
  }

  async register(key: string, value: unknown): Promise<Lease> {
    if (this.closed) throw new Error("discovery is closed");
    const own = { value: encoder.encode(JSON.stringify(value)) };
    await this.kv.put(encodeKvKey(key), own.value);
    this.own.set(key, own);
    return {
      key,
      revoke: async () => {
        if (this.own.get(key) !== own) return;
        this.own.delete(key);
        // A heartbeat already sent must not land after the delete and resurrect the key.
        await this.beating;
        await this.kv.delete(encodeKvKey(key));
      },
    };
  }

  async list(prefix: string): Promise<DiscoveryEntry[]> {
    const keys = (await this.liveKeys()).filter((key) => key.startsWith(prefix));
    const entries = await Promise.all(
      keys.map(async (key) => {
        const entry = await this.kv.get(encodeKvKey(key));
        if (!entry || entry.operation !== "PUT") return undefined;
        const value = parseValue(entry.value);
        return value === undefined ? undefined : { key, value: value.json };
      }),
    );
    return entries.filter((entry): entry is DiscoveryEntry => entry !== undefined);
  }

  watch(prefix: string): DiscoveryWatch {
    let updates: QueuedIterator<KvEntry> | undefined;
    let sweeping = false;
    let retry: NodeJS.Timeout | undefined;
    // Each follow takes a generation; an older one that ends late does not start another.
    let generation = 0;
    // When each key was last seen put, so a sweep never deletes a key put after its listing began.
    const lastPut = new Map<string, number>();
    const state = new WatchState(prefix, () => {
      generation++;
      updates?.stop();
      clearInterval(sweeper);
      clearTimeout(retry);
      this.watches.delete(followed);
    });
    const sweep = async () => {
      if (sweeping || state.isStopped || !this.status.connected) return;
      // Right after a reconnect the server may have lost entries whose owners are re-putting them.
      if (Date.now() - this.reconnectedAt < this.ttlMs) return;
      sweeping = true;
      try {
        const started = Date.now();
        const present = new Set(await this.liveKeys());
        for (const key of state.keys()) {
          if (!present.has(key) && (lastPut.get(key) ?? 0) < started) {
            lastPut.delete(key);
            state.delete(key);
          }
        }
      } catch {
        // Disconnected, or the bucket is gone until the restore re-creates it: the next sweep retries.
      } finally {
        sweeping = false;
      }
    };
    const sweeper = setInterval(() => void sweep(), Math.max(100, this.ttlMs / 4));
    sweeper.unref();

    const follow = async (mine: number) => {
      const iterator = await this.kv.watch({ key: ">", include: KvWatchInclude.LastValue });
      if (mine !== generation) return void iterator.stop();
      updates = iterator;
      for await (const entry of iterator) {
        const key = decodeKvKey(entry.key);
        if (!key.startsWith(prefix)) continue;
        if (entry.operation === "PUT") {
          const value = parseValue(entry.value);
          if (value === undefined) continue;
          lastPut.set(key, Date.now());
          state.put(key, value.json);
        } else {
          lastPut.delete(key);
          state.delete(key);
        }
      }
    };
    const refollow = () => {
      if (state.isStopped) return;
      const mine = ++generation;
      clearTimeout(retry);
      updates?.stop();
      updates = undefined;
      // A watch that ends or fails (connection lost, bucket gone) keeps its entries and is followed again.
      void follow(mine)
        .catch(() => {})
        .finally(() => {
          if (mine !== generation || state.isStopped || this.closed) return;
          retry = setTimeout(refollow, RESTORE_BACKOFF_MS.max);
          retry.unref();
        });
    };
    const followed: Followed = { state, refollow };
    this.watches.add(followed);
    refollow();
    return state.asWatch();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    await this.beating;
    for (const { state } of [...this.watches]) state.stop();
    const keys = [...this.own.keys()];
    this.own.clear();
    await Promise.all(keys.map((key) => this.kv.delete(encodeKvKey(key)).catch(() => {})));
    await drainNats(this.connection);
  }

  /** Follows the connection's transitions: told once per disconnect and reconnect, restoring on reconnect. */
  private async monitor(): Promise<void> {
    for await (const event of this.connection.status()) {
      if (this.closed) return;
      if (event.type === Events.Disconnect) {
        this.status.disconnected(`lost the connection to NATS ${String(event.data)}`);
      } else if (event.type === Events.Reconnect) {
        this.reconnectedAt = Date.now();
        this.status.reconnected();
        void this.restore();
      }
    }
  }

  private beat(): void {
    if (this.beatInFlight || this.own.size === 0) return;
    this.beatInFlight = true;
    const startedAt = Date.now();
    this.beating = (async () => {
      const failures = (
        await Promise.all(
          [...this.own].map(([key, own]) =>
            this.kv.put(encodeKvKey(key), own.value).then(
              () => undefined,
              (error: unknown) => error,
            ),
          ),
        )
      ).filter((error) => error !== undefined);
      this.beatInFlight = false;
      if (failures.length === 0) return this.status.heartbeatOk();
      // Puts sent before the last reconnect fail late; the restore after it has put everything again.
      if (startedAt <= this.reconnectedAt) return;
      this.status.heartbeatFailed(
        `${failures.length} of ${this.own.size} entries: ${errorMessage(failures[0])}`,
      );
      // Connected but failing: the server lost the bucket (restarted empty without this client noticing).
      if (this.status.connected && !this.connection.isClosed()) void this.restore();
    })();
  }

  /** Creates the bucket if the server lost it, puts every own entry again and follows every watch again. */
  private async restore(): Promise<void> {
    if (this.restoring) {
      this.restoreAgain = true;
      return;
    }
    this.restoring = true;
    let delay = RESTORE_BACKOFF_MS.first;
    try {
      do {
        this.restoreAgain = false;
        try {
          this.kv = await openBucket(this.connection, this.bucket, this.ttlMs);
          const entries = [...this.own];
          await Promise.all(entries.map(([key, own]) => this.kv.put(encodeKvKey(key), own.value)));
          this.status.heartbeatOk();
          if (entries.length > 0) this.status.reregistered(entries.length);
          for (const { refollow } of this.watches) refollow();
        } catch (error) {
          if (this.closed) return;
          this.status.heartbeatFailed(`re-registering failed: ${errorMessage(error)}`);
          await sleep(delay);
          delay = Math.min(delay * 2, RESTORE_BACKOFF_MS.max);
          this.restoreAgain = true;
        }
      } while (this.restoreAgain && !this.closed);
    } finally {
      this.restoring = false;
    }
  }

  private async liveKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(decodeKvKey(key));
    return keys;
  }
}

/**
 * The discovery bucket, created (with the TTL as its max age) when the server does not have it. Requests time out
 * within a heartbeat period: a put stuck in an outage must not hold back the next heartbeat past the TTL.
 */
function openBucket(connection: NatsConnection, bucket: string, ttlMs: number): Promise<KV> {
  const timeout = Math.min(5000, Math.max(1000, ttlMs / 3));
  return connection.jetstream({ timeout }).views.kv(bucket, { ttl: ttlMs, history: 1 });
}

function parseValue(bytes: Uint8Array): { json: unknown } | undefined {
  try {
    return { json: JSON.parse(decoder.decode(bytes)) };
  } catch {
    return undefined;
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
