import { Etcd3, type Lease as EtcdLease, EtcdLeaseInvalidError, type Namespace, type Watcher } from "etcd3";
import type { EtcdAuth } from "../plane-security.js";
import { redactText, redactUrl } from "../redact.js";
import { etcdClientAuth } from "./etcd-auth.js";
import { parseEtcdEndpoints } from "./etcd-endpoints.js";
import { DiscoveryStatus } from "./status.js";
import type { Discovery, DiscoveryEntry, DiscoveryStatusEvent, DiscoveryWatch, Lease } from "./types.js";
import { WatchState } from "./watch-state.js";

export interface EtcdDiscoveryOptions {
  /** etcd client URLs, comma-separated (Dynamo's ETCD_ENDPOINTS); a bare `host:port` means `http://host:port`. */
  endpoints: string;
  /** Lease TTL; etcd counts in whole seconds, so it is rounded up (at least 1 s). */
  ttlMs: number;
  /** Every key is stored under this prefix, so Kvasir shares an etcd with other users without clashes. */
  root?: string;
  /** Most time to wait for etcd at open() and for any single request afterwards. */
  timeoutMs?: number;
  /** User/password and TLS (Dynamo's ETCD_AUTH_*); TLS needs https:// endpoints. */
  auth?: EtcdAuth;
  /** Told when the lease is lost and the entries are re-registered (default: console.warn). */
  warn?: (message: string) => void;
}

export const DEFAULT_ETCD_ROOT = "kvasir/";
const DEFAULT_TIMEOUT_MS = 5000;
const RESTORE_BACKOFF_MS = { first: 200, max: 5000 };

interface OwnEntry {
  json: string;
  /** The lease the key was last put with: a revoke deletes the key only while it is still attached to it. */
  leaseId?: string;
}

/**
 * Discovery in etcd, as Dynamo keeps it: one lease per Discovery (kept alive by the client), every entry put with
 * that lease, so a process that dies loses its entries when the lease expires. Watches list the prefix and then
 * follow etcd's watch from the next revision; after a reconnect or a cancelled watch they list again, so a change
 * made while disconnected (or an etcd that lost its data) is never missed. A lost lease is re-granted and every
 * entry put again.
 */
export class EtcdDiscovery implements Discovery {
  private readonly own = new Map<string, OwnEntry>();
  private readonly watches = new Set<WatchState>();
  private readonly ttlSeconds: number;
  private readonly status = new DiscoveryStatus();
  private readonly warn: (message: string) => void;
  private lease: EtcdLease | undefined;
  /** Registrations, revokes and restores run one at a time, so a restore never resurrects a revoked key. */
  private chain: Promise<unknown> = Promise.resolve();
  private restoreTimer: NodeJS.Timeout | undefined;
  private restoreBackoffMs = RESTORE_BACKOFF_MS.first;
  private restoring = false;
  private closed = false;
  /** The lease TTL in force (whole seconds). */
  readonly ttlMs: number;

  private constructor(
    private readonly client: Etcd3,
    private readonly ns: Namespace,
    private readonly timeoutMs: number,
    options: EtcdDiscoveryOptions,
  ) {
    this.ttlSeconds = Math.max(1, Math.ceil(options.ttlMs / 1000));
    this.ttlMs = this.ttlSeconds * 1000;
    this.warn = options.warn ?? ((message) => console.warn(message));
  }

  static async open(options: EtcdDiscoveryOptions): Promise<EtcdDiscovery> {
    if (!(options.ttlMs > 0)) throw new Error(`discovery ttlMs must be positive, got ${options.ttlMs}`);
    const hosts = parseEtcdEndpoints(options.endpoints);
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const client = new Etcd3({
      hosts,
      dialTimeout: timeoutMs,
      ...etcdClientAuth(options.auth),
      // Streams (watch, keep-alive) live on; every single request gets a deadline so nothing hangs on a dead etcd.
      defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + timeoutMs }),
    });
    try {
      await withTimeout(client.maintenance.status(), timeoutMs);
    } catch (error) {
      client.close();
      throw new Error(
        `cannot connect to etcd at ${redactUrl(hosts.join(","))} (${redactText(errorMessage(error), [options.auth?.password])}); is etcd running (--etcd-endpoints, ETCD_ENDPOINTS) and are its credentials right (ETCD_AUTH_*)?`,
      );
    }
    return new EtcdDiscovery(client, client.namespace(options.root ?? DEFAULT_ETCD_ROOT), timeoutMs, options);
  }

  onStatus(listener: (event: DiscoveryStatusEvent) => void): () => void {
    return this.status.on(listener);
  }

  async register(key: string, value: unknown): Promise<Lease> {
    if (key === "") throw new Error("discovery keys must not be empty");
    const json: string | undefined = JSON.stringify(value);
    if (json === undefined) throw new Error(`discovery value for '${key}' is not JSON-serializable`);
    const own: OwnEntry = { json };
    await this.serial(async () => {
      if (this.closed) throw new Error("discovery is closed");
      await this.putOwn(key, own);
      this.own.set(key, own);
    });
    return { key, revoke: () => this.revoke(key, own) };
  }

  async list(prefix: string): Promise<DiscoveryEntry[]> {
    const { entries } = await this.range(prefix);
    return entries.map(([key, value]) => ({ key, value }));
  }

  watch(prefix: string): DiscoveryWatch {
    let current: Watcher | undefined;
    // Each (re)sync takes a generation; anything an older one does after a newer one started is ignored.
    let generation = 0;
    const state = new WatchState(prefix, () => {
      generation++;
      dropWatcher(current);
      current = undefined;
      this.watches.delete(state);
    });
    this.watches.add(state);

    const resync = async () => {
      const mine = ++generation;
      dropWatcher(current);
      current = undefined;
      for (let delay = RESTORE_BACKOFF_MS.first; mine === generation; delay = nextDelay(delay)) {
        try {
          const { entries, revision } = await this.range(prefix);
          if (mine !== generation) return;
          state.sync(entries);
          current = this.follow(prefix, revision + 1n, state, () => mine === generation, resync);
          return;
        } catch (error) {
          // etcd unreachable: keep the entries last seen and try again.
          this.status.disconnected(`cannot list ${prefix} (${errorMessage(error)})`);
          await sleep(delay);
        }
      }
    };
    void resync();
    return state.asWatch();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restoreTimer);
    for (const state of [...this.watches]) state.stop();
    await this.chain;
    this.own.clear();
    const lease = this.lease;
    this.lease = undefined;
    // Revoking the lease deletes every key put with it at once; if etcd is gone they expire with the TTL.
    if (lease) await withTimeout(lease.revoke(), this.timeoutMs).catch(() => {});
    this.client.close();
  }

  /** Follows etcd's watch from `startRevision`; a reconnect or a cancelled watch starts a new resync. */
  private follow(
    prefix: string,
    startRevision: bigint,
    state: WatchState,
    isCurrent: () => boolean,
    resync: () => Promise<void>,
  ): Watcher {
    const watcher = this.ns.watch().prefix(prefix).startRevision(startRevision.toString()).watcher();
    let disconnected = false;
    watcher.on("put", (kv) => {
      if (!isCurrent()) return;
      const value = parseJson(kv.value);
      if (value !== undefined) state.put(kv.key.toString("utf8"), value.json);
    });
    watcher.on("delete", (kv) => {
      if (isCurrent()) state.delete(kv.key.toString("utf8"));
    });
    watcher.on("disconnected", () => {
      disconnected = true;
      this.status.disconnected("lost the watch connection to etcd");
    });
    watcher.on("connected", () => {
      if (!disconnected) return;
      this.status.reconnected();
      if (isCurrent()) void resync();
    });
    // Cancelled by etcd (e.g. the revision was compacted): start over from a fresh listing.
    watcher.on("error", () => {
      if (isCurrent()) void resync();
    });
    return watcher;
  }

  private async range(prefix: string): Promise<{ entries: [string, unknown][]; revision: bigint }> {
    const response = await this.ns.getAll().prefix(prefix).exec();
    const entries: [string, unknown][] = [];
    for (const kv of response.kvs) {
      const value = parseJson(kv.value);
      if (value !== undefined) entries.push([kv.key.toString("utf8"), value.json]);
    }
    return { entries, revision: BigInt(response.header.revision) };
  }

  private async revoke(key: string, own: OwnEntry): Promise<void> {
    await this.serial(async () => {
      if (this.own.get(key) !== own) return;
      this.own.delete(key);
      if (own.leaseId === undefined) return;
      // Only while the key still carries this Discovery's lease: a newer registration by someone else stays.
      await this.ns.if(key, "Lease", "==", own.leaseId).then(this.ns.delete().key(key)).commit();
    });
  }

  /** Puts one own entry with the current lease, granting one if needed (once more if the lease turns out lost). */
  private async putOwn(key: string, own: OwnEntry): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const lease = await this.currentLease();
      try {
        const leaseId = await lease.grant();
        await lease.put(key).value(own.json);
        own.leaseId = leaseId;
        return;
      } catch (error) {
        if (!(error instanceof EtcdLeaseInvalidError) || attempt > 0) throw error;
        if (this.lease === lease) this.lease = undefined;
      }
    }
  }

  private async currentLease(): Promise<EtcdLease> {
    if (this.lease) return this.lease;
    const lease = this.ns.lease(this.ttlSeconds);
    this.lease = lease;
    lease.on("lost", (error) => this.onLeaseLost(lease, error));
    // Keep-alives are the heartbeats: a failing one means etcd is unreachable from here.
    lease.on("keepaliveFailed", (error) => {
      this.status.disconnected(`lease keep-alive failed (${errorMessage(error)})`);
      this.status.heartbeatFailed(errorMessage(error));
    });
    lease.on("keepaliveSucceeded", () => {
      this.status.reconnected();
      this.status.heartbeatOk();
    });
    try {
      await lease.grant();
    } catch (error) {
      if (this.lease === lease) this.lease = undefined;
      throw error;
    }
    return lease;
  }

  private onLeaseLost(lease: EtcdLease, error: Error): void {
    if (this.lease !== lease) return;
    this.lease = undefined;
    // A restore under way retries on its own (with backoff) when its new lease fails too.
    if (this.closed || this.own.size === 0 || this.restoring) return;
    this.warn(
      `etcd discovery: lease lost (${errorMessage(error)}); granting a new one and re-registering ${this.own.size} entries`,
    );
    this.scheduleRestore(0);
  }

  private scheduleRestore(delayMs: number): void {
    if (this.closed || this.restoreTimer !== undefined) return;
    this.restoreTimer = setTimeout(() => {
      this.restoreTimer = undefined;
      void this.restore();
    }, delayMs);
    this.restoreTimer.unref();
  }

  /** Puts every own entry again under a new lease; retried with backoff while etcd is unreachable. */
  private async restore(): Promise<void> {
    try {
      await this.serial(async () => {
        if (this.closed || this.own.size === 0) return;
        this.restoring = true;
        try {
          for (const [key, own] of this.own) await this.putOwn(key, own);
          this.status.reconnected();
          this.status.reregistered(this.own.size);
        } finally {
          this.restoring = false;
        }
      });
      this.restoreBackoffMs = RESTORE_BACKOFF_MS.first;
    } catch (error) {
      if (this.closed) return;
      this.warn(`etcd discovery: re-registering failed (${errorMessage(error)}); retrying`);
      const delay = this.restoreBackoffMs;
      this.restoreBackoffMs = nextDelay(delay);
      this.scheduleRestore(delay);
    }
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task, task);
    this.chain = run.catch(() => {});
    return run;
  }
}

/** Cancels a watcher that is no longer followed (its handlers ignore whatever it still delivers). */
function dropWatcher(watcher: Watcher | undefined): void {
  void watcher?.cancel().catch(() => {});
}

function parseJson(bytes: Buffer): { json: unknown } | undefined {
  try {
    return { json: JSON.parse(bytes.toString("utf8")) };
  } catch {
    return undefined;
  }
}

function nextDelay(delay: number): number {
  return Math.min(delay * 2, RESTORE_BACKOFF_MS.max);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
