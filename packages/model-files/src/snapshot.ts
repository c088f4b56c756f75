// A whole model from a source into the cache: resolve the manifest, download what is missing (each file at most
// once at a time, however many callers ask), keep the manifest with every file's SHA-256 and chunk hashes.

import { type CachedFile, downloadFile, downloadKey, hashCachedFile } from "./download.js";
import { errorMessage, ModelFilesError } from "./errors.js";
import { withFileLock } from "./file-lock.js";
import { type HfCache, isCommitHash } from "./hf-cache.js";
import { DEFAULT_CHUNK_SIZE, type Manifest, type ManifestFile, totalBytes } from "./manifest.js";
import { type FilesLog, ProgressLog, silentLog } from "./progress.js";
import type { ModelSource } from "./sources/source.js";

export interface CachedModel {
  /** The snapshot directory (`.../models--org--name/snapshots/<commit>`). */
  dir: string;
  /** Every file with its SHA-256 and chunk hashes. */
  manifest: Manifest & { files: CachedFile[] };
  /** Whether anything came from the source this time. */
  downloaded: boolean;
}

export interface SnapshotOptions {
  chunkSize?: number;
  log?: FilesLog;
  /** Told of every byte read from the source. */
  onSourceBytes?: (n: number) => void;
  /** Only the files this keeps (a frontend wants the tokenizer files only). */
  filter?: (path: string) => boolean;
  /** Files downloaded at once. Default 4. */
  parallelFiles?: number;
}

export class SnapshotFetcher {
  private readonly models = new Map<string, Promise<CachedModel>>();
  private readonly files = new Map<string, Promise<CachedFile>>();

  constructor(
    readonly cache: HfCache,
    private readonly source: ModelSource,
    private readonly options: SnapshotOptions = {},
  ) {}

  /** The model at `revision` in the cache, fetched from the source when needed; concurrent calls share one fetch. */
  ensure(modelId: string, revision: string): Promise<CachedModel> {
    const key = `${modelId}\0${revision}`;
    let pending = this.models.get(key);
    if (!pending) {
      pending = this.fetch(modelId, revision).finally(() => this.models.delete(key));
      this.models.set(key, pending);
    }
    return pending;
  }

  /** The manifest the cache holds for a model at a revision, without the source; undefined when not whole. */
  async cached(modelId: string, revision: string): Promise<CachedModel | undefined> {
    const commit = await this.cache.readRef(modelId, revision || "main");
    if (!commit) return undefined;
    const manifest = await this.cache.readManifest(modelId, commit);
    if (!manifest || !(await this.cache.hasAll(manifest))) return undefined;
    if (!manifest.files.every(isCachedFile)) return undefined;
    return {
      dir: this.cache.snapshotDir(modelId, commit),
      manifest: { ...manifest, files: manifest.files.filter(isCachedFile) },
      downloaded: false,
    };
  }

  private async fetch(modelId: string, revision: string): Promise<CachedModel> {
    const log = this.options.log ?? silentLog;
    const rev = revision || "main";
    // A commit already whole in the cache needs no source at all.
    if (isCommitHash(rev)) {
      const hit = await this.cached(modelId, rev);
      if (hit) return hit;
    }
    let resolved: Manifest;
    try {
      resolved = await this.source.resolve(modelId, rev);
    } catch (error) {
      // As huggingface_hub does offline: a branch the cache knows is served from the cache.
      if (error instanceof ModelFilesError && error.code === "source_unreachable") {
        const hit = await this.cached(modelId, rev);
        if (hit) {
          log.warn("source unreachable; using the cached revision", {
            model: modelId,
            revision: rev,
            error: error.message,
          });
          return hit;
        }
      }
      throw error;
    }
    const filter = this.options.filter;
    const wanted = filter ? resolved.files.filter((f) => filter(f.path)) : resolved.files;
    const chunkSize = this.options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    const stored = await this.cache.readManifest(modelId, resolved.revision);
    const known = new Map((stored?.files ?? []).filter(isCachedFile).map((f) => [f.path, f]));
    const missing: ManifestFile[] = [];
    const present: CachedFile[] = [];
    for (const file of wanted) {
      if (await this.cache.hasFile(modelId, resolved.revision, file)) {
        const k = known.get(file.path);
        present.push(
          k && stored?.chunkSize === chunkSize
            ? k
            : await hashCachedFile(
                this.cache.snapshotFile(modelId, resolved.revision, file.path),
                file,
                chunkSize,
              ),
        );
      } else missing.push(file);
    }
    const manifest = { ...resolved, chunkSize, files: wanted };
    if (missing.length > 0) {
      const progress = new ProgressLog(log, "downloading model files", totalBytes({ files: missing }), {
        model: modelId,
        revision: resolved.revision,
        source: this.source.description,
        files: missing.length,
      });
      const queue = [...missing];
      const parallel = Math.max(1, this.options.parallelFiles ?? 4);
      const worker = async (): Promise<void> => {
        for (let file = queue.shift(); file; file = queue.shift()) {
          present.push(await this.file(manifest, file, chunkSize, (n) => progress.add(n)));
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(parallel, missing.length) }, worker));
      } catch (error) {
        log.warn("model download failed", {
          model: modelId,
          revision: resolved.revision,
          error: errorMessage(error),
        });
        throw error;
      }
      progress.done({ status: "complete" });
    }
    const order = new Map(wanted.map((f, i) => [f.path, i]));
    present.sort((a, b) => (order.get(a.path) ?? 0) - (order.get(b.path) ?? 0));
    const full = { ...manifest, files: present };
    // A filtered fetch must not claim the whole model is cached.
    if (!filter) await this.cache.writeManifest(full);
    await this.cache.writeRef(modelId, rev, resolved.revision);
    return {
      dir: this.cache.snapshotDir(modelId, resolved.revision),
      manifest: full,
      downloaded: missing.length > 0,
    };
  }

  private file(
    manifest: Manifest,
    file: ManifestFile,
    chunkSize: number,
    onBytes: (n: number) => void,
  ): Promise<CachedFile> {
    const key = `${manifest.modelId}\0${manifest.revision}\0${file.path}`;
    let pending = this.files.get(key);
    if (!pending) {
      const log = this.options.log;
      const cache = this.cache;
      pending = withFileLock(cache.lockPath(manifest.modelId, downloadKey(manifest, file)), async () => {
        // Another process sharing the cache may have fetched it while we waited for the lock.
        if (await cache.hasFile(manifest.modelId, manifest.revision, file)) {
          return hashCachedFile(
            cache.snapshotFile(manifest.modelId, manifest.revision, file.path),
            file,
            chunkSize,
          );
        }
        return downloadFile(this.source, manifest, file, cache, {
          chunkSize,
          onBytes: (n) => {
            onBytes(n);
            this.options.onSourceBytes?.(n);
          },
          ...(log ? { log } : {}),
        });
      }).finally(() => this.files.delete(key));
      this.files.set(key, pending);
    }
    return pending;
  }
}

function isCachedFile(file: ManifestFile): file is CachedFile {
  return typeof file.sha256 === "string" && Array.isArray(file.chunkSha256);
}
