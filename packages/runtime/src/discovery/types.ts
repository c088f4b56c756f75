import type { EtcdAuth, NatsAuth } from "../plane-security.js";

/**
 * A registration that lives until revoked (or, for the file, nats and etcd backends, until its owner stops
 * heartbeating).
 */
export interface Lease {
  readonly key: string;
  /** Removes the entry at once. */
  revoke(): Promise<void>;
}

export type DiscoveryEvent = { type: "put"; key: string; value: unknown } | { type: "delete"; key: string };

/** Live view of a key prefix: first the current entries as puts, then every change. */
export interface DiscoveryWatch extends AsyncIterable<DiscoveryEvent> {
  stop(): void;
}

export interface DiscoveryEntry {
  key: string;
  value: unknown;
}

/** A change in a backend's connection or heartbeats, as the component host logs and counts it. */
export type DiscoveryStatusEvent =
  | { type: "disconnected"; reason: string }
  | { type: "reconnected" }
  | { type: "reregistered"; entries: number }
  | { type: "heartbeat_failed"; reason: string }
  | { type: "heartbeat_recovered" };

export interface Discovery {
  /** How long an entry outlives its owner's last heartbeat (backends with a TTL). */
  readonly ttlMs?: number;
  /** Told of every connection transition (backends with a connection: nats, etcd); returns the unsubscribe. */
  onStatus?(listener: (event: DiscoveryStatusEvent) => void): () => void;
  /** Publishes `value` (JSON-serializable) under `key`, kept alive by this Discovery's heartbeat. */
  register(key: string, value: unknown): Promise<Lease>;
  list(prefix: string): Promise<DiscoveryEntry[]>;
  watch(prefix: string): DiscoveryWatch;
  /** Revokes every lease this Discovery holds and ends its watches. */
  close(): Promise<void>;
}

export type DiscoveryBackend = "memory" | "file" | "nats" | "etcd";

export interface DiscoveryOptions {
  backend: DiscoveryBackend;
  /** file backend: the shared JSON file. */
  filePath?: string;
  /** nats backend: server URL(s), comma-separated. */
  natsServers?: string;
  /** nats backend: credentials and TLS. */
  natsAuth?: NatsAuth;
  /** etcd backend: credentials and TLS. */
  etcdAuth?: EtcdAuth;
  /** etcd backend: client URLs, comma-separated (Dynamo's ETCD_ENDPOINTS). */
  etcdEndpoints?: string;
  /** file, nats and etcd backends: how long an entry outlives its owner's last heartbeat (etcd: the lease TTL). */
  ttlMs?: number;
  /** nats backend: KV bucket name. */
  bucket?: string;
}
