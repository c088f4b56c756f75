// One file fetched in chunks from several providers at once (peers first, the model-express server last):
// every chunk is checked against its hash from the manifest, a bad one is fetched again from another provider,
// a provider that fails is dropped for the rest of the file, and the whole file's SHA-256 is checked before it
// enters the cache. A temp file left by an earlier attempt keeps its good chunks.
import { createHash } from "node:crypto";
import { mkdir, open, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import type { CachedFile } from "./download.js";
import { diskError, errorMessage, ModelFilesError } from "./errors.js";
import { FileHasher, hashFileInto, sha256Hex } from "./hash.js";
import { chunkRanges, type Manifest } from "./manifest.js";
import type { FilesLog } from "./progress.js";

export type ProviderKind = "peer" | "server";

export interface ChunkProvider {
  readonly name: string;
  readonly kind: ProviderKind;
  /** Bytes `[start, end)` of the file. */
  read(
    manifest: Manifest,
    file: CachedFile,
    start: number,
    end: number,
    signal?: AbortSignal,
  ): Promise<Uint8Array>;
}

export interface ChunkFetchOptions {
  manifest: Manifest;
  file: CachedFile;
  providers: readonly ChunkProvider[];
  /** Where the file is assembled. */
  temp: string;
  /** Chunks in flight at once. */
  concurrency: number;
  onChunk?: (provider: ChunkProvider, bytes: number) => void;
  onCorrupt?: (provider: ChunkProvider, index: number) => void;
  log?: FilesLog;
  signal?: AbortSignal;
}

/** The order in which a chunk tries providers: peers rotated by the chunk's index (spreading the load), then the rest. */
export function providerOrder<P extends { kind: ProviderKind }>(providers: readonly P[], index: number): P[] {
  const peers = providers.filter((p) => p.kind === "peer");
  const rest = providers.filter((p) => p.kind !== "peer");
  const shift = peers.length > 0 ? index % peers.length : 0;
  return [...peers.slice(shift), ...peers.slice(0, shift), ...rest];
}

export async function fetchFileChunks(options: ChunkFetchOptions): Promise<void> {
  const { manifest, file, temp } = options;
  const ranges = chunkRanges(file.size, manifest.chunkSize);
  if (file.chunkSha256.length !== ranges.length) {
    throw new ModelFilesError(
      "invalid_argument",
      `${file.path}: manifest has ${file.chunkSha256.length} chunk hashes for ${ranges.length} chunks`,
    );
  }
  await mkdir(dirname(temp), { recursive: true }).catch((error: unknown) => {
    throw diskError(error, temp);
  });
  const inOrder = new InOrderHash();
  const existed = await stat(temp).then(
    () => true,
    () => false,
  );
  const handle = await open(temp, existed ? "r+" : "w+").catch((error: unknown) => {
    throw diskError(error, temp);
  });
  try {
    await handle.truncate(file.size).catch((error: unknown) => {
      throw diskError(error, temp);
    });
    const pending: number[] = [];
    for (let i = 0; i < ranges.length; i++) {
      const [start, end] = ranges[i] ?? [0, 0];
      if (existed) {
        const buf = Buffer.alloc(end - start);
        await handle.read(buf, 0, buf.length, start);
        if (sha256Hex(buf) === file.chunkSha256[i]) {
          inOrder.abandon();
          continue;
        }
      }
      pending.push(i);
    }
    const dead = new Set<ChunkProvider>();
    const worker = async (): Promise<void> => {
      for (let index = pending.shift(); index !== undefined; index = pending.shift()) {
        await fetchChunk(index);
      }
    };
    const fetchChunk = async (index: number): Promise<void> => {
      const [start, end] = ranges[index] ?? [0, 0];
      const errors: string[] = [];
      for (const provider of providerOrder(options.providers, index)) {
        if (dead.has(provider)) continue;
        if (options.signal?.aborted) throw options.signal.reason;
        let data: Uint8Array;
        try {
          data = await provider.read(manifest, file, start, end, options.signal);
        } catch (error) {
          if (error instanceof ModelFilesError && error.code === "disk_full") throw error;
          dead.add(provider);
          errors.push(`${provider.name}: ${errorMessage(error)}`);
          options.log?.warn("file provider failed; trying the next", {
            provider: provider.name,
            kind: provider.kind,
            file: file.path,
            chunk: index,
            error: errorMessage(error),
          });
          continue;
        }
        if (data.length !== end - start || sha256Hex(data) !== file.chunkSha256[index]) {
          errors.push(`${provider.name}: corrupted chunk`);
          options.onCorrupt?.(provider, index);
          options.log?.warn("corrupted chunk; fetching it again elsewhere", {
            provider: provider.name,
            file: file.path,
            chunk: index,
            bytes: data.length,
          });
          continue;
        }
        try {
          await handle.write(data, 0, data.length, start);
        } catch (error) {
          throw diskError(error, temp);
        }
        inOrder.add(index, data);
        options.onChunk?.(provider, data.length);
        return;
      }
      throw new ModelFilesError(
        "express_unreachable",
        `${manifest.modelId}@${manifest.revision}/${file.path}: no peer or server gave chunk ${index} (${errors.join("; ")})`,
      );
    };
    await Promise.all(Array.from({ length: Math.min(options.concurrency, pending.length) }, worker));
  } finally {
    await handle.close();
  }
  let sha256 = inOrder.digest(ranges.length);
  if (sha256 === undefined) {
    // Chunks kept from an earlier attempt, or too far out of order: hash the assembled file.
    const hasher = new FileHasher(file.size, manifest.chunkSize);
    await hashFileInto(temp, hasher);
    sha256 = hasher.digest().sha256;
  }
  if (sha256 !== file.sha256) {
    await rm(temp, { force: true });
    throw new ModelFilesError(
      "checksum_mismatch",
      `${file.path}: SHA-256 ${sha256} after assembly, expected ${file.sha256}`,
    );
  }
}

/** The whole file's SHA-256 fed from chunks as they arrive, in order; saves reading the file back. */
class InOrderHash {
  private readonly hash = createHash("sha256");
  private readonly waiting = new Map<number, Uint8Array>();
  private next = 0;
  private off = false;

  /** At most this many chunks wait for an earlier one; past it, the file is hashed after assembly instead. */
  static readonly MAX_WAITING = 32;

  add(index: number, data: Uint8Array): void {
    if (this.off) return;
    this.waiting.set(index, data);
    for (let chunk = this.waiting.get(this.next); chunk; chunk = this.waiting.get(this.next)) {
      this.hash.update(chunk);
      this.waiting.delete(this.next++);
    }
    if (this.waiting.size > InOrderHash.MAX_WAITING) this.abandon();
  }

  abandon(): void {
    this.off = true;
    this.waiting.clear();
  }

  /** The digest once all `chunks` went through in order; undefined when abandoned. */
  digest(chunks: number): string | undefined {
    return this.off || this.next !== chunks ? undefined : this.hash.digest("hex");
  }
}
