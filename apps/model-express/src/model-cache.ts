// The server's cache: one SnapshotFetcher per source over one Hugging Face cache directory, which models are in
// use, and LRU eviction of the others when the cache outgrows its limit.
import { readdir, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import {
  type CachedModel,
  errorMessage,
  type FilesLog,
  HfCache,
  ModelFilesError,
  type ModelSource,
  parseModelRef,
  repoFolderName,
  SnapshotFetcher,
  sourceForModel,
  totalBytes,
} from "@kvasir/model-files";
import { chooseEvictions } from "./lru.js";
import type { ModelExpressMetrics } from "./metrics.js";

export interface ModelCacheOptions {
  cacheDir: string;
  source: ModelSource;
  chunkSize: number;
  /** Bytes the cache may hold; no limit when undefined. */
  limitBytes?: number;
  log: FilesLog;
  metrics: ModelExpressMetrics;
  env?: Record<string, string | undefined>;
  now?: () => number;
}

interface Usage {
  bytes: number;
  lastUsed: number;
  inUse: number;
}

export class ModelCache {
  readonly cache: HfCache;
  private readonly fetchers = new Map<string, SnapshotFetcher>();
  /** By repo folder (`models--org--name`). */
  private readonly usage = new Map<string, Usage>();
  /**
   * Models known whole, by id and commit: answers the clients' repeated ResolveModel and every ReadFile without
   * reading the manifest and checking each file on disk again. Forgotten when the model is evicted.
   */
  private readonly ready = new Map<string, { folder: string; model: CachedModel }>();
  private readonly now: () => number;

  constructor(private readonly options: ModelCacheOptions) {
    this.cache = new HfCache(options.cacheDir);
    this.now = options.now ?? Date.now;
  }

  /** Reads what an earlier run left in the cache, so its size counts against the limit. */
  async load(): Promise<void> {
    const entries = await readdir(this.cache.root, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      if (!entry.isDirectory() || !entry.name.startsWith("models--")) continue;
      const blobs = join(this.cache.root, entry.name, "blobs");
      let bytes = 0;
      let lastUsed = 0;
      for (const blob of await readdir(blobs).catch(() => [])) {
        const info = await stat(join(blobs, blob)).catch(() => undefined);
        if (!info) continue;
        bytes += info.size;
        lastUsed = Math.max(lastUsed, info.mtimeMs);
      }
      this.usage.set(entry.name, { bytes, lastUsed, inUse: 0 });
    }
    this.updateSize();
  }

  /** The model whole in the cache (from the source when needed) and whether it was there already. */
  async resolve(modelId: string, revision: string): Promise<{ model: CachedModel; hit: boolean }> {
    checkModelId(modelId);
    return this.using(modelId, async () => {
      const known = this.ready.get(readyKey(modelId, revision));
      if (known) return { model: known.model, hit: true };
      const fetcher = this.fetcherFor(modelId);
      const started = this.now();
      let sourceBytes = 0;
      const model = await fetcher.ensure(modelId, revision).catch((error: unknown) => {
        throw error instanceof ModelFilesError
          ? error
          : new ModelFilesError("source_unreachable", errorMessage(error));
      });
      if (model.downloaded) {
        sourceBytes = totalBytes(model.manifest);
        const seconds = (this.now() - started) / 1000;
        if (seconds > 0) this.options.metrics.sourceRate.set(sourceBytes / seconds);
      }
      const usage = this.usageOf(modelId);
      usage.bytes = Math.max(usage.bytes, totalBytes(model.manifest));
      const whole = { folder: repoFolderName(modelId), model: { ...model, downloaded: false } };
      this.ready.set(readyKey(modelId, model.manifest.revision), whole);
      return { model, hit: !model.downloaded };
    });
  }

  /** The cached model at a revision (a commit), or undefined. */
  async cached(modelId: string, revision: string): Promise<CachedModel | undefined> {
    return (
      this.ready.get(readyKey(modelId, revision))?.model ?? this.fetcherFor(modelId).cached(modelId, revision)
    );
  }

  /** Runs `work` with the model marked in use (not evictable), then evicts what the limit requires. */
  async using<T>(modelId: string, work: () => Promise<T>): Promise<T> {
    const usage = this.usageOf(modelId);
    usage.inUse++;
    try {
      return await work();
    } finally {
      usage.inUse--;
      usage.lastUsed = this.now();
      await this.evict();
    }
  }

  /** Marks the model in use (a file being streamed) until the returned function is called. */
  acquire(modelId: string): () => void {
    const usage = this.usageOf(modelId);
    usage.inUse++;
    return () => {
      usage.inUse--;
      usage.lastUsed = this.now();
      void this.evict().catch((error: unknown) =>
        this.options.log.warn("eviction failed", { error: errorMessage(error) }),
      );
    };
  }

  private usageOf(modelId: string): Usage {
    const key = repoFolderName(modelId);
    let usage = this.usage.get(key);
    if (!usage) {
      usage = { bytes: 0, lastUsed: this.now(), inUse: 0 };
      this.usage.set(key, usage);
    }
    return usage;
  }

  private async evict(): Promise<void> {
    this.updateSize();
    const limit = this.options.limitBytes;
    if (limit === undefined) return;
    const entries = [...this.usage].map(([key, u]) => ({
      key,
      bytes: u.bytes,
      lastUsed: u.lastUsed,
      inUse: u.inUse > 0,
    }));
    for (const key of chooseEvictions(entries, limit)) {
      await rm(join(this.cache.root, key), { recursive: true, force: true });
      this.options.log.info("evicted model from the cache", {
        folder: key,
        bytes: this.usage.get(key)?.bytes,
        limit_bytes: limit,
      });
      this.usage.delete(key);
      for (const [k, entry] of this.ready) if (entry.folder === key) this.ready.delete(k);
      this.options.metrics.evictions.inc();
    }
    this.updateSize();
  }

  private updateSize(): void {
    let bytes = 0;
    for (const u of this.usage.values()) bytes += u.bytes;
    this.options.metrics.cacheBytes.set(bytes);
  }

  private fetcherFor(modelId: string): SnapshotFetcher {
    const source = sourceForModel(modelId, this.options.source, this.options.env);
    let fetcher = this.fetchers.get(source.description);
    if (!fetcher) {
      fetcher = new SnapshotFetcher(this.cache, source, {
        chunkSize: this.options.chunkSize,
        log: this.options.log,
        onSourceBytes: (n) => this.options.metrics.bytes.inc({ from: "source" }, n),
      });
      this.fetchers.set(source.description, fetcher);
    }
    return fetcher;
  }
}

function readyKey(modelId: string, revision: string): string {
  return `${modelId}\0${revision}`;
}

/** A model id is a hub id or an s3:// URL; anything else (a path on the server) is refused. */
function checkModelId(modelId: string): void {
  try {
    const ref = parseModelRef(modelId, () => false);
    if (ref.kind === "local") throw new Error("local");
  } catch {
    throw new ModelFilesError(
      "invalid_argument",
      `invalid model id ${JSON.stringify(modelId)}: expected org/name or s3://bucket/prefix`,
    );
  }
}
