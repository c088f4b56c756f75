import type { KV, KvEntry, NatsConnection, QueuedIterator } from "nats";
import { KvWatchInclude } from "nats";
import { connectNats, drainNats } from "../nats-connection.js";
import type { NatsAuth } from "../plane-security.js";
import { decodeKvKey, encodeKvKey } from "./key-codec.js";
import type { Discovery, DiscoveryEntry, DiscoveryWatch, Lease } from "./types.js";
import { WatchState } from "./watch-state.js";

export interface NatsDiscoveryOptions {
  natsServers?: string;
  natsAuth?: NatsAuth;
  bucket: string;
  ttlMs: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Discovery in a JetStream KV bucket. nats-server 2.9 has no per-key TTL, so the bucket's max age is the TTL and
 * every owner re-puts its entries each third of it. An entry that ages out produces no watch event, so every
 * watch also sweeps: it lists the bucket's keys periodically and reports the ones that vanished as deletes.
 */
export class NatsDiscovery implements Discovery {
  private readonly own = new Map<string, { value: Uint8Array }>();
  private readonly watches = new Set<WatchState>();
  private readonly heartbeat: NodeJS.Timeout;
  private beating: Promise<void> = Promise.resolve();
  private beatInFlight = false;
  private closed = false;

  private constructor(
    private readonly connection: NatsConnection,
    private readonly kv: KV,
    /** The bucket's actual TTL (an existing bucket keeps the one it was created with). */
    readonly ttlMs: number,
  ) {
    this.heartbeat = setInterval(() => this.beat(), ttlMs / 3);
    this.heartbeat.unref();
  }

  static async open(options: NatsDiscoveryOptions): Promise<NatsDiscovery> {
    const connection = await connectNats(options.natsServers, "kvasir-discovery", options.natsAuth);
    try {
      const kv = await connection.jetstream().views.kv(options.bucket, { ttl: options.ttlMs, history: 1 });
      const { ttl } = await kv.status();
      return new NatsDiscovery(connection, kv, ttl > 0 ? ttl : options.ttlMs);
    } catch (error) {
      await drainNats(connection);
      throw error;
    }
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
    // When each key was last seen put, so a sweep never deletes a key put after its listing began.
    const lastPut = new Map<string, number>();
    const state = new WatchState(prefix, () => {
      updates?.stop();
      clearInterval(sweeper);
      this.watches.delete(state);
    });
    const sweep = async () => {
      if (sweeping || state.isStopped) return;
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
        // Disconnected: the next sweep retries.
      } finally {
        sweeping = false;
      }
    };
    const sweeper = setInterval(() => void sweep(), Math.max(100, this.ttlMs / 4));
    sweeper.unref();
    this.watches.add(state);

    void (async () => {
      updates = await this.kv.watch({ key: ">", include: KvWatchInclude.LastValue });
      if (state.isStopped) updates.stop();
      for await (const entry of updates) {
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
    })().catch(() => state.stop());
    return state.asWatch();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    await this.beating;
    for (const state of [...this.watches]) state.stop();
    const keys = [...this.own.keys()];
    this.own.clear();
    await Promise.all(keys.map((key) => this.kv.delete(encodeKvKey(key)).catch(() => {})));
    await drainNats(this.connection);
  }

  private beat(): void {
    if (this.beatInFlight || this.own.size === 0) return;
    this.beatInFlight = true;
    this.beating = Promise.all(
      [...this.own].map(([key, own]) => this.kv.put(encodeKvKey(key), own.value).catch(() => 0)),
    ).then(() => {
      this.beatInFlight = false;
    });
  }

  private async liveKeys(): Promise<string[]> {
    const keys: string[] = [];
    for await (const key of await this.kv.keys()) keys.push(decodeKvKey(key));
    return keys;
  }
}

function parseValue(bytes: Uint8Array): { json: unknown } | undefined {
  try {
    return { json: JSON.parse(decoder.decode(bytes)) };
  } catch {
    return undefined;
  }
}
