// One file from a source into the cache: appended to `blobs/<key>.incomplete` (so a dropped connection resumes
// where it stopped, also in a later process), hashed as it arrives, checked against what the manifest knows,
// and only then renamed into `blobs/<sha256>` and linked from the snapshot.
import { createHash } from "node:crypto";
import { mkdir, open, rm, stat } from "node:fs/promises";
import { diskError, errorMessage, ModelFilesError } from "./errors.js";
import { FileHasher, hashFileInto } from "./hash.js";
import type { HfCache } from "./hf-cache.js";
import type { Manifest, ManifestFile } from "./manifest.js";
import type { FilesLog } from "./progress.js";
import type { ModelSource } from "./sources/source.js";

/** A file in the cache with the hashes the cache computed. */
export interface CachedFile extends ManifestFile {
  sha256: string;
  chunkSha256: string[];
}

export interface DownloadOptions {
  chunkSize: number;
  /** Attempts after a failed read (each resumes from the bytes already written). Default 3. */
  retries?: number;
  /** Told of every byte read from the source. */
  onBytes?: (n: number) => void;
  log?: FilesLog;
  signal?: AbortSignal;
}

/** The temp file's name: a hash the manifest knows, else one derived from the revision and path. */
export function downloadKey(manifest: Manifest, file: ManifestFile): string {
  return (
    file.sha256 ??
    file.gitSha1 ??
    createHash("sha256").update(`${manifest.revision}/${file.path}`).digest("hex").slice(0, 40)
  );
}

export async function downloadFile(
  source: ModelSource,
  manifest: Manifest,
  file: ManifestFile,
  cache: HfCache,
  options: DownloadOptions,
): Promise<CachedFile> {
  const temp = cache.incompletePath(manifest.modelId, downloadKey(manifest, file));
  const what = `${manifest.modelId}@${manifest.revision}/${file.path}`;
  let have = await stat(temp).then(
    (s) => s.size,
    () => 0,
  );
  if (have > file.size) {
    await rm(temp, { force: true });
    have = 0;
  }
  const hasher = new FileHasher(file.size, options.chunkSize, {
    gitSha1: file.gitSha1 !== undefined,
    md5: file.md5 !== undefined,
  });
  if (have > 0) {
    await hashFileInto(temp, hasher, have);
    options.log?.info("resuming download", { file: what, offset: have });
  }
  await mkdirFor(cache, manifest.modelId);
  const retries = options.retries ?? 3;
  for (let attempt = 0; have < file.size; attempt++) {
    const handle = await open(temp, "a").catch((error: unknown) => {
      throw diskError(error, temp);
    });
    try {
      for await (const data of source.read(manifest, file, have, options.signal)) {
        const take = data.subarray(0, file.size - have);
        try {
          await handle.write(take);
        } catch (error) {
          throw diskError(error, temp);
        }
        hasher.update(take);
        have += take.length;
        options.onBytes?.(take.length);
        if (have >= file.size) break;
      }
    } catch (error) {
      if (
        attempt >= retries ||
        options.signal?.aborted ||
        (error instanceof ModelFilesError && error.code !== "source_unreachable")
      ) {
        // An empty temp file is no progress worth keeping.
        if (have === 0) await rm(temp, { force: true });
        throw error;
      }
      options.log?.warn("download interrupted; resuming", {
        file: what,
        offset: have,
        error: errorMessage(error),
      });
      continue;
    } finally {
      await handle.close();
    }
    if (have < file.size) {
      if (attempt >= retries) {
        throw new ModelFilesError(
          "source_unreachable",
          `${what}: the source ended the file at ${have} of ${file.size} bytes`,
        );
      }
      options.log?.warn("download ended early; resuming", { file: what, offset: have });
    }
  }
  const digest = hasher.digest();
  const mismatch =
    (file.sha256 && file.sha256 !== digest.sha256 && `SHA-256 ${digest.sha256}, expected ${file.sha256}`) ||
    (file.gitSha1 &&
      file.gitSha1 !== digest.gitSha1 &&
      `git blob id ${digest.gitSha1}, expected ${file.gitSha1}`) ||
    (file.md5 && file.md5 !== digest.md5 && `MD5 ${digest.md5}, expected ${file.md5}`);
  if (mismatch) {
    // A wrong file must not be resumed from either.
    await rm(temp, { force: true });
    throw new ModelFilesError(
      "checksum_mismatch",
      `${what}: checksum mismatch (${mismatch}); the partial download was deleted`,
    );
  }
  await cache.commitFile(manifest.modelId, manifest.revision, file.path, temp, digest.sha256);
  return { ...file, sha256: digest.sha256, chunkSha256: digest.chunkSha256 };
}

async function mkdirFor(cache: HfCache, modelId: string): Promise<void> {
  const dir = `${cache.repoDir(modelId)}/blobs`;
  await mkdir(dir, { recursive: true }).catch((error: unknown) => {
    throw diskError(error, dir);
  });
}

/** Hashes a file already in the snapshot (a cache filled by another tool) so the manifest has its chunk hashes. */
export async function hashCachedFile(
  path: string,
  file: ManifestFile,
  chunkSize: number,
): Promise<CachedFile> {
  const hasher = new FileHasher(file.size, chunkSize);
  await hashFileInto(path, hasher);
  const digest = hasher.digest();
  if (file.sha256 && file.sha256 !== digest.sha256) {
    throw new ModelFilesError(
      "checksum_mismatch",
      `${path}: cached file's SHA-256 ${digest.sha256} is not ${file.sha256}`,
    );
  }
  return { ...file, sha256: digest.sha256, chunkSha256: digest.chunkSha256 };
}
