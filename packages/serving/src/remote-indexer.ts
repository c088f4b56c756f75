import { Code, ConnectError } from "@connectrpc/connect";
import { IndexerService, type WorkerOverlap } from "@kvasir/protocol";
import { type ClientOptions, createClient, type Discovery, followAddresses } from "@kvasir/runtime";
import { createIndexerFallbackMetrics, type MetricsRegistry } from "@kvasir/telemetry";

/** Most time one indexer has to answer before the next one (or the fallback) is asked. */
const CALL_TIMEOUT_MS = 1000;
/** While degraded, how often the indexers are asked again; lookups in between go to the fallback at once. */
const PROBE_EVERY_MS = 1000;

/** The standalone indexers (`kvasir indexer`) of a namespace, found in discovery and asked in turn. */
export interface RemoteIndexer {
  /**
   * Matched prefix depth per worker from the next indexer in turn, the others tried if it fails; rejects with
   * Unavailable when none is registered or none answers.
   */
  findMatches(localHashes: BigUint64Array): Promise<WorkerOverlap[]>;
  /**
   * findMatches, or `fallback`'s answer when no indexer answers: the router keeps routing with its own
   * approximate index. The switch each way is logged once and shown in metrics.
   */
  findMatchesOr<T>(localHashes: BigUint64Array, fallback: () => T): Promise<WorkerOverlap[] | T>;
  /** Indexers known now. */
  readonly count: number;
  /** True while lookups are answered by the fallback. */
  readonly degraded: boolean;
  stop(): void;
}

export interface RemoteIndexerObservers {
  log?: {
    info(message: string, fields?: Record<string, unknown>): void;
    warn(message: string, fields?: Record<string, unknown>): void;
  };
  /** Where the fallback gauge and counters go (the router's or frontend's registry). */
  registry?: MetricsRegistry;
}

/** `clientOptions`: TLS and service token of the Connect plane (the component host's). */
export async function followRemoteIndexer(
  discovery: Discovery,
  namespace: string,
  clientOptions: ClientOptions = {},
  observers: RemoteIndexerObservers = {},
): Promise<RemoteIndexer> {
  const indexers = await followAddresses(discovery, `v1/instances/${namespace}/indexer/`);
  const metrics = observers.registry && createIndexerFallbackMetrics(observers.registry);
  const { log } = observers;
  let turn = 0;
  let degraded = false;
  let probedAt = 0;

  const findMatches = async (localHashes: BigUint64Array): Promise<WorkerOverlap[]> => {
    const all = indexers.all();
    if (all.length === 0)
      throw new ConnectError("no KV indexer is registered in discovery", Code.Unavailable);
    const first = turn++;
    let lastError: unknown;
    // Replicas answer alike: one that fails (killed, restarting) is skipped for the next.
    for (let i = 0; i < all.length; i++) {
      const address = all[(first + i) % all.length];
      if (address === undefined) continue;
      try {
        const response = await createClient(IndexerService, address, clientOptions).findMatches(
          { localHashes: [...localHashes] },
          { timeoutMs: CALL_TIMEOUT_MS },
        );
        return response.overlaps;
      } catch (error) {
        metrics?.errors.inc();
        lastError = error;
      }
    }
    throw ConnectError.from(lastError, Code.Unavailable);
  };

  return {
    findMatches,
    async findMatchesOr(localHashes, fallback) {
      const now = Date.now();
      if (degraded && now - probedAt < PROBE_EVERY_MS) {
        metrics?.lookups.inc();
        return fallback();
      }
      probedAt = now;
      try {
        const overlaps = await findMatches(localHashes);
        if (degraded) {
          degraded = false;
          metrics?.active.set(0);
          log?.info("kv indexer answers again; routing with its index", { indexers: indexers.all().length });
        }
        return overlaps;
      } catch (error) {
        if (!degraded) {
          degraded = true;
          metrics?.active.set(1);
          log?.warn("no kv indexer answers; routing with the router's approximate index", {
            indexers: indexers.all().length,
            error: error instanceof Error ? error.message : String(error),
          });
        }
        metrics?.lookups.inc();
        return fallback();
      }
    },
    get count() {
      return indexers.all().length;
    },
    get degraded() {
      return degraded;
    },
    stop: indexers.stop,
  };
}
