// How a worker gets its model's files (issue 13): a local directory as given; a Hugging Face id or s3:// URL
// through model-express (`--model-express-url`, Dynamo's MODEL_EXPRESS_URL) from peers and the server, or, without
// it (or when the server is unreachable), straight from the hub or S3 into the local Hugging Face cache. A worker
// that fetched through model-express then serves the files to its peers and registers as a source for them.
import { existsSync } from "node:fs";
import {
  type CachedModel,
  errorMessage,
  fetchThroughExpress,
  HfCache,
  HubSource,
  hubCacheDir,
  hubOptionsFromEnv,
  ModelFilesError,
  modelIdOf,
  parseModelRef,
  peerKey,
  SnapshotFetcher,
  sourceForModel,
  startPeerServer,
} from "@kvasir/model-files";
import { type ComponentHost, defineFlags, FlagError, type FlagValues, httpUrl } from "@kvasir/runtime";
import type { Logger } from "@kvasir/telemetry";

export const modelFilesFlags = defineFlags({
  "model-express-url": {
    type: "string",
    env: "MODEL_EXPRESS_URL",
    help: "model-express server to fetch the model's files through (from peers, then the server); without it a Hugging Face id is downloaded from HF_ENDPOINT into the local cache",
    dynamo: true,
    differs:
      "Files over Connect in verified chunks, from peers first; Dynamo's ModelExpress also moves weights GPU to GPU over NIXL",
  },
  "model-revision": {
    type: "string",
    default: "main",
    help: "Branch, tag or commit of a Hugging Face model",
    dynamo: "--revision (dynamo.vllm)",
  },
  "model-peer-port": {
    type: "number",
    default: 0,
    integer: true,
    min: 0,
    max: 65535,
    help: "Port of the file server that gives this worker's model files to its peers (with --model-express-url; 0 picks a free one)",
  },
  "model-peer-bandwidth-mb": {
    type: "number",
    positive: true,
    help: "MiB/s this worker uploads to its peers at most (default: no cap)",
  },
});

/** A model to fetch before the worker starts its engine. */
export interface ModelFilesConfig {
  /** The hub id or s3:// URL. */
  modelId: string;
  revision: string;
  expressUrl?: string;
  /** The local Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub). */
  cacheDir: string;
  peerPort: number;
  peerBandwidthBytesPerSecond?: number;
  /** HF_ENDPOINT, HF_TOKEN and the AWS variables. */
  env: Record<string, string | undefined>;
}

/**
 * What `--model-path` names when it is not a directory here: a model to fetch. Undefined for a directory, for no
 * model, and for the bundled model's id without a model-express server (it needs no download).
 */
export function modelFilesFromFlags(
  values: FlagValues,
  modelPath: string | undefined,
  bundledModel: string,
  env: Record<string, string | undefined> = process.env,
): ModelFilesConfig | undefined {
  if (modelPath === undefined) return undefined;
  const flags = modelFilesFlags.read(values);
  const expressUrl = flags["model-express-url"] || undefined;
  if (existsSync(modelPath) || (modelPath === bundledModel && !expressUrl)) return undefined;
  let modelId: string;
  try {
    const ref = parseModelRef(modelPath, () => false);
    modelId = modelIdOf(ref);
  } catch (error) {
    throw new FlagError(`--model-path ${errorMessage(error)}`);
  }
  const bandwidth = flags["model-peer-bandwidth-mb"];
  return {
    modelId,
    revision: flags["model-revision"],
    ...(expressUrl ? { expressUrl } : {}),
    cacheDir: hubCacheDir(env),
    peerPort: flags["model-peer-port"],
    ...(bandwidth === undefined ? {} : { peerBandwidthBytesPerSecond: bandwidth * 2 ** 20 }),
    env,
  };
}

/**
 * The snapshot directory of the worker's model, fetched when needed; with a model-express server the worker
 * then serves the files to peers (its file server and discovery entry stop with the host).
 */
export async function fetchModelFiles(
  files: ModelFilesConfig,
  host: ComponentHost,
  bindHost: string,
  log: Logger,
): Promise<string> {
  const cache = new HfCache(files.cacheDir);
  if (files.expressUrl) {
    // Serving starts with the first whole file, so workers starting together trade files as they get them.
    const peers = await servePeers(files, host, bindHost, log);
    try {
      const result = await fetchThroughExpress({
        url: files.expressUrl,
        modelId: files.modelId,
        revision: files.revision,
        cache,
        log,
        clientOptions: host.clientOptions,
        excludePeers: [peers.url],
        onFile: (manifest, held) => peers.announce(manifest.revision, held),
      });
      await peers.announce(
        result.manifest.revision,
        result.manifest.files.map((f) => f.path),
      );
      log.info("model files ready", {
        model: files.modelId,
        revision: result.manifest.revision,
        dir: result.dir,
        from_peers: result.bytes.peers,
        from_server: result.bytes.server,
        already_cached: result.bytes.cached,
        corrupted_chunks: result.corruptedChunks,
      });
      log.info("serving model files to peers", {
        url: peers.url,
        model: files.modelId,
        revision: result.manifest.revision,
      });
      return result.dir;
    } catch (error) {
      if (!(error instanceof ModelFilesError && error.code === "express_unreachable")) throw error;
      // As Dynamo's workers do when ModelExpress is down: fall back to a direct download.
      log.warn("cannot get the model through model-express; downloading it directly", {
        model_express_url: files.expressUrl,
        error: error.message,
      });
    }
  }
  const model = await downloadDirect(files, cache, log);
  log.info("model files ready", { model: files.modelId, revision: model.manifest.revision, dir: model.dir });
  return model.dir;
}

function downloadDirect(files: ModelFilesConfig, cache: HfCache, log: Logger): Promise<CachedModel> {
  const source = sourceForModel(files.modelId, new HubSource(hubOptionsFromEnv(files.env)), files.env);
  return new SnapshotFetcher(cache, source, { log }).ensure(files.modelId, files.revision);
}

interface Peering {
  readonly url: string;
  /** (Re-)registers this worker as holding `held` of the model at `revision`. */
  announce(revision: string, held: readonly string[]): Promise<void>;
}

async function servePeers(
  files: ModelFilesConfig,
  host: ComponentHost,
  bindHost: string,
  log: Logger,
): Promise<Peering> {
  let served = 0;
  const server = await startPeerServer({
    cacheDir: files.cacheDir,
    host: bindHost,
    port: files.peerPort,
    ...(files.peerBandwidthBytesPerSecond
      ? { bandwidthBytesPerSecond: files.peerBandwidthBytesPerSecond }
      : {}),
    log,
    onBytes: (n) => {
      served += n;
    },
  });
  host.onStop("model peer server", async () => {
    await server.close();
    log.info("model peer server stopped", { bytes_served_to_peers: served });
  });
  const url = httpUrl(host.advertise(bindHost), server.port);
  return {
    url,
    announce: async (revision, held) => {
      // A later registration of the same key replaces the earlier one.
      await host.register(peerKey(host.namespace, files.modelId, revision, host.instanceHex), {
        url,
        instance_id: host.instanceHex,
        model: files.modelId,
        revision,
        files: [...held],
      });
    },
  };
}
