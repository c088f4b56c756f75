// A worker's (or frontend's) side of model-express: ask the server for the manifest and the peers, then pull
// every missing file's chunks from the peers and the server at once into the local Hugging Face cache.
import { type MessageInitShape, ModelExpressService, type ReadFileRequestSchema } from "@kvasir/protocol";
import { type ClientOptions, createClient } from "@kvasir/runtime";
import { type ChunkProvider, fetchFileChunks, type ProviderKind } from "./chunks.js";
import type { CachedFile } from "./download.js";
import { downloadKey } from "./download.js";
import { errorMessage, ModelFilesError, type ModelFilesErrorCode } from "./errors.js";
import { withFileLock } from "./file-lock.js";
import type { HfCache } from "./hf-cache.js";
import { type Manifest, totalBytes } from "./manifest.js";
import { peerFileUrl } from "./peers.js";
import { type FilesLog, ProgressLog, silentLog } from "./progress.js";

type Interceptor = NonNullable<ClientOptions["interceptors"]>[number];

/**
 * Model weights do not compress, and gzip (Connect's default for responses over 1 KiB) made ReadFile CPU-bound
 * at a few MB/s; asking for identity keeps the bytes as they are.
 */
const identityEncoding: Interceptor = (next) => async (request) => {
  request.header.set("grpc-accept-encoding", "identity");
  return next(request);
};

/** Metadata key carrying a ModelFilesErrorCode on the server's Connect errors. */
export const ERROR_CODE_HEADER = "kvasir-model-files-error";

export interface ExpressFetchOptions {
  /** The model-express server (`--model-express-url`). */
  url: string;
  modelId: string;
  revision: string;
  cache: HfCache;
  log?: FilesLog;
  clientOptions?: ClientOptions;
  /** Chunks in flight at once. Default 8. */
  concurrency?: number;
  /** Only these files (a frontend wants tokenizer files). */
  filter?: (path: string) => boolean;
  /** Peers to leave out (this process itself). */
  excludePeers?: readonly string[];
  /** Told after each file is whole in the cache, with every file held so far: a worker then serves them to peers. */
  onFile?: (manifest: Manifest, held: readonly string[]) => Promise<void> | void;
  /** Where in the list of missing files this client starts, so clients starting together fetch different files first and then trade them; random when absent. */
  startAt?: number;
  signal?: AbortSignal;
}

export interface ExpressFetchResult {
  /** The snapshot directory. */
  dir: string;
  manifest: Manifest & { files: CachedFile[] };
  /** Bytes by where they came from; `cached` were already in the local cache. */
  bytes: { peers: number; server: number; cached: number };
  corruptedChunks: number;
}

export async function fetchThroughExpress(options: ExpressFetchOptions): Promise<ExpressFetchResult> {
  const log = options.log ?? silentLog;
  const base = options.clientOptions ?? {};
  const client = createClient(ModelExpressService, options.url, {
    ...base,
    interceptors: [...(base.interceptors ?? []), identityEncoding],
  });
  const rev = options.revision || "main";
  let answer: Awaited<ReturnType<typeof client.resolveModel>>;
  try {
    answer = await client.resolveModel(
      { modelId: options.modelId, revision: rev },
      options.signal ? { signal: options.signal } : {},
    );
  } catch (error) {
    throw fromConnectError(error, options.url);
  }
  const m = answer.manifest;
  if (!m) throw new ModelFilesError("express_unreachable", `${options.url} answered without a manifest`);
  const allFiles: CachedFile[] = m.files.map((f) => ({
    path: f.path,
    size: Number(f.size),
    sha256: f.sha256,
    chunkSha256: f.chunkSha256,
  }));
  const filter = options.filter;
  const files = filter ? allFiles.filter((f) => filter(f.path)) : allFiles;
  const manifest = { modelId: m.modelId, revision: m.revision, chunkSize: m.chunkSize, files };
  const excluded = new Set(options.excludePeers ?? []);
  let peers = answer.peers.filter((p) => !excluded.has(p.url));
  const server = serverProvider(options.url, client, options.signal);
  const peerProviders = new Map<string, ChunkProvider>();
  const providersFor = (path: string): ChunkProvider[] => {
    const holders = peers.filter((p) => p.paths.length === 0 || p.paths.includes(path));
    return [
      ...holders.map((p) => {
        let provider = peerProviders.get(p.url);
        if (!provider) {
          provider = peerProvider(p.url);
          peerProviders.set(p.url, provider);
        }
        return provider;
      }),
      server,
    ];
  };
  const bytes = { peers: 0, server: 0, cached: 0 };
  let corruptedChunks = 0;
  const missing: CachedFile[] = [];
  const held: string[] = [];
  for (const file of files) {
    if (await options.cache.hasFile(manifest.modelId, manifest.revision, file)) {
      bytes.cached += file.size;
      held.push(file.path);
    } else missing.push(file);
  }
  if (missing.length > 0) {
    log.info("fetching model files through model-express", {
      model: manifest.modelId,
      revision: manifest.revision,
      server: options.url,
      peers: peers.map((p) => p.url),
      files: missing.length,
      total_bytes: totalBytes({ files: missing }),
    });
    const progress = new ProgressLog(log, "fetching model files", totalBytes({ files: missing }), {
      model: manifest.modelId,
    });
    const shift = (options.startAt ?? Math.floor(Math.random() * missing.length)) % missing.length;
    const ordered = [...missing.slice(shift), ...missing.slice(0, shift)];
    for (const [i, file] of ordered.entries()) {
      // Peers that finished files since the last look (cheap for the server: the model is in its cache).
      if (i > 0) {
        peers = await client
          .resolveModel({ modelId: options.modelId, revision: manifest.revision })
          .then((a) => a.peers.filter((p) => !excluded.has(p.url)))
          .catch(() => peers);
      }
      const key = downloadKey(manifest, file);
      const temp = options.cache.incompletePath(manifest.modelId, key);
      const lock = options.cache.lockPath(manifest.modelId, key);
      await withFileLock(lock, async () => {
        // Another worker sharing this cache may have fetched it while we waited.
        if (await options.cache.hasFile(manifest.modelId, manifest.revision, file)) {
          bytes.cached += file.size;
          return;
        }
        await fetchFileChunks({
          manifest,
          file,
          providers: providersFor(file.path),
          temp,
          concurrency: options.concurrency ?? 8,
          log,
          ...(options.signal ? { signal: options.signal } : {}),
          onChunk: (provider, n) => {
            bytes[provider.kind === "peer" ? "peers" : "server"] += n;
            progress.add(n);
          },
          onCorrupt: () => corruptedChunks++,
        });
        await options.cache.commitFile(manifest.modelId, manifest.revision, file.path, temp, file.sha256);
      });
      held.push(file.path);
      await options.onFile?.(manifest, held);
    }
    progress.done({ from_peers: bytes.peers, from_server: bytes.server, corrupted_chunks: corruptedChunks });
  }
  if (!filter) await options.cache.writeManifest({ ...manifest, files: allFiles });
  await options.cache.writeRef(manifest.modelId, rev, manifest.revision);
  return {
    dir: options.cache.snapshotDir(manifest.modelId, manifest.revision),
    manifest,
    bytes,
    corruptedChunks,
  };
}

function peerProvider(url: string): ChunkProvider {
  return provider(url, "peer", async (manifest, file, start, end, signal) => {
    const res = await fetch(peerFileUrl(url, manifest.modelId, manifest.revision, file.path), {
      headers: { range: `bytes=${start}-${end - 1}` },
      ...(signal ? { signal } : {}),
    });
    if (res.status !== 206 && res.status !== 200) {
      await res.body?.cancel();
      throw new Error(`peer answered HTTP ${res.status}`);
    }
    return new Uint8Array(await res.arrayBuffer());
  });
}

function serverProvider(
  url: string,
  client: ReturnType<typeof createClient<typeof ModelExpressService>>,
  outer?: AbortSignal,
): ChunkProvider {
  return provider(url, "server", async (manifest, file, start, end, signal) => {
    const request: MessageInitShape<typeof ReadFileRequestSchema> = {
      modelId: manifest.modelId,
      revision: manifest.revision,
      path: file.path,
      offset: BigInt(start),
      length: BigInt(end - start),
    };
    const out = new Uint8Array(end - start);
    let at = 0;
    try {
      const s = signal ?? outer;
      for await (const part of client.readFile(request, s ? { signal: s } : {})) {
        const off = Number(part.offset) - start;
        if (off !== at || at + part.data.length > out.length)
          throw new Error(`unexpected chunk at offset ${part.offset}`);
        out.set(part.data, at);
        at += part.data.length;
      }
    } catch (error) {
      throw fromConnectError(error, url);
    }
    return at === out.length ? out : out.subarray(0, at);
  });
}

function provider(name: string, kind: ProviderKind, read: ChunkProvider["read"]): ChunkProvider {
  return { name, kind, read };
}

const CODES: readonly ModelFilesErrorCode[] = [
  "unknown_model",
  "unknown_revision",
  "unknown_file",
  "gated",
  "checksum_mismatch",
  "source_unreachable",
  "disk_full",
  "invalid_argument",
];

/** A Connect error from the server back to a ModelFilesError; anything without our code means the server is unreachable. */
export function fromConnectError(error: unknown, url: string): ModelFilesError {
  if (error instanceof ModelFilesError) return error;
  const meta =
    typeof error === "object" && error !== null && "metadata" in error ? error.metadata : undefined;
  const header = meta instanceof Headers ? meta.get(ERROR_CODE_HEADER) : null;
  const code = CODES.find((c) => c === header);
  const raw =
    typeof error === "object" && error !== null && "rawMessage" in error
      ? String(error.rawMessage)
      : errorMessage(error);
  if (code) return new ModelFilesError(code, raw, { cause: error });
  return new ModelFilesError("express_unreachable", `model-express ${url}: ${raw}`, { cause: error });
}
