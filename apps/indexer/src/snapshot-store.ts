import { readFileSync } from "node:fs";
import { Redis } from "ioredis";

/** Where the event streams stood when a snapshot was taken. */
export interface Watermarks {
  /** Last event_id applied per worker from the event plane. */
  eventIds: Map<bigint, bigint>;
  /** Last seq applied per ZMQ publisher, by its endpoint. */
  zmqSeqs: Map<string, bigint>;
  /** Last stream sequence applied from the JetStream KV event stream, when the indexer reads one. */
  jetStreamSeq?: bigint;
}

export interface Snapshot {
  /** The index's own serialized form (KvIndexer.snapshot()). */
  index: Uint8Array;
  /** Which index implementation wrote `index`; another one cannot read it. */
  backend: string;
  watermarks: Watermarks;
  blockSize: number;
  takenAtMs: number;
}

interface WatermarksJson {
  eventIds: Record<string, string>;
  zmqSeqs: Record<string, string>;
  jetStreamSeq?: string;
}

export function watermarksToJson(w: Watermarks): string {
  const json: WatermarksJson = {
    eventIds: Object.fromEntries([...w.eventIds].map(([worker, id]) => [worker.toString(), id.toString()])),
    zmqSeqs: Object.fromEntries([...w.zmqSeqs].map(([endpoint, seq]) => [endpoint, seq.toString()])),
    ...(w.jetStreamSeq === undefined ? {} : { jetStreamSeq: w.jetStreamSeq.toString() }),
  };
  return JSON.stringify(json);
}

export function watermarksFromJson(text: string): Watermarks {
  const json = JSON.parse(text) as Partial<WatermarksJson>;
  return {
    eventIds: new Map(
      Object.entries(json.eventIds ?? {}).map(([worker, id]) => [BigInt(worker), BigInt(id)]),
    ),
    zmqSeqs: new Map(Object.entries(json.zmqSeqs ?? {}).map(([endpoint, seq]) => [endpoint, BigInt(seq)])),
    ...(json.jetStreamSeq === undefined ? {} : { jetStreamSeq: BigInt(json.jetStreamSeq) }),
  };
}

/**
 * Indexer snapshots in Redis: one hash per key holding the index bytes and the watermarks, written with a single
 * HSET so a reader never sees the index of one snapshot with the watermarks of another.
 */
// Redis's answers to a missing or wrong password (AUTH, or a command before it).
const AUTH_ERROR = /WRONGPASS|NOAUTH|invalid password|invalid username-password/i;

export class SnapshotStore {
  private readonly redis: Redis;
  // The socket's own error (ECONNREFUSED, ...): connect() itself only reports that the connection closed.
  private lastError: Error | undefined;

  constructor(
    url: string,
    private readonly key: string,
    onError: (error: Error) => void = () => {},
    security: { password?: string; tlsCaPath?: string } = {},
  ) {
    // Fail fast instead of queueing commands forever while Redis is away; snapshots are retried on schedule.
    // The URL's userinfo (redis://:pass@host) and rediss:// are ioredis's own; the options fill what the URL lacks.
    this.redis = new Redis(url, {
      lazyConnect: true,
      maxRetriesPerRequest: 2,
      enableOfflineQueue: true,
      ...(security.password ? { password: security.password } : {}),
      ...(security.tlsCaPath ? { tls: { ca: readFileSync(security.tlsCaPath) } } : {}),
    });
    // ioredis reports every failed reconnect; pass each distinct error on once rather than flooding the log.
    let last = "";
    this.redis.on("error", (error: Error) => {
      this.lastError = error;
      if (error.message === last) return;
      last = error.message;
      onError(error);
    });
    this.redis.on("ready", () => {
      last = "";
    });
  }

  /** Connects once; when Redis cannot be reached, gives up (no reconnect left scheduled) and says where. */
  async connect(): Promise<void> {
    // A refused password does not end ioredis's connect (it retries forever): the first auth error does.
    let onAuthError: (error: Error) => void = () => {};
    const authFailed = new Promise<never>((_, reject) => {
      onAuthError = (error) => {
        if (AUTH_ERROR.test(error.message)) reject(error);
      };
      this.redis.on("error", onAuthError);
    });
    try {
      await Promise.race([this.redis.connect(), authFailed]);
    } catch (error) {
      this.redis.disconnect();
      const reason = this.lastError?.message ?? (error instanceof Error ? error.message : String(error));
      const hint = AUTH_ERROR.test(reason) ? " (check the password in --redis-url or --redis-password)" : "";
      throw new Error(`cannot connect to Redis at ${this.where()}: ${reason}${hint}`);
    } finally {
      this.redis.off("error", onAuthError);
    }
  }

  async save(snapshot: Snapshot): Promise<void> {
    await this.redis.hset(this.key, {
      index: Buffer.from(snapshot.index.buffer, snapshot.index.byteOffset, snapshot.index.byteLength),
      backend: snapshot.backend,
      watermarks: watermarksToJson(snapshot.watermarks),
      block_size: String(snapshot.blockSize),
      taken_at_ms: String(snapshot.takenAtMs),
    });
  }

  async load(): Promise<Snapshot | undefined> {
    const [index, backend, watermarks, blockSize, takenAt] = await this.redis.hmgetBuffer(
      this.key,
      "index",
      "backend",
      "watermarks",
      "block_size",
      "taken_at_ms",
    );
    if (!index || !backend || !watermarks || !blockSize) return undefined;
    return {
      index: new Uint8Array(index),
      backend: backend.toString("utf8"),
      watermarks: watermarksFromJson(watermarks.toString("utf8")),
      blockSize: Number(blockSize.toString("utf8")),
      takenAtMs: Number(takenAt?.toString("utf8") ?? 0),
    };
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  // host:port only: a URL's password does not belong in a log line.
  private where(): string {
    const { host, port } = this.redis.options;
    return `${host}:${port}`;
  }
}
