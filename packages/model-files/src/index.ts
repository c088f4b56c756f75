// @kvasir/model-files: model manifests, sources (hub, S3, local directory), the Hugging Face cache layout,
// verified and resumable downloads, and model-express's client and peer file server.
export { type ChunkProvider, fetchFileChunks, type ProviderKind, providerOrder } from "./chunks.js";
export { type CachedFile, downloadFile, downloadKey, hashCachedFile } from "./download.js";
export { diskError, errorMessage, ModelFilesError, type ModelFilesErrorCode } from "./errors.js";
export {
  ERROR_CODE_HEADER,
  type ExpressFetchOptions,
  type ExpressFetchResult,
  fetchThroughExpress,
  fromConnectError,
} from "./express-client.js";
export { FileHasher, hashFileInto, sha256Hex } from "./hash.js";
export { atomicWrite, HfCache, hubCacheDir, isCommitHash } from "./hf-cache.js";
export {
  chunkRanges,
  DEFAULT_CHUNK_SIZE,
  isTokenizerFile,
  type Manifest,
  type ManifestFile,
  totalBytes,
} from "./manifest.js";
export {
  checkFilePath,
  type ModelRef,
  modelIdOf,
  parseModelRef,
  parseSnapshotPath,
  repoFolderName,
} from "./model-ref.js";
export { type PeerServer, type PeerServerOptions, parseRange, startPeerServer } from "./peer-server.js";
export {
  type PeerRecord,
  parsePeerRecord,
  peerFileUrl,
  peerKey,
  peerPrefixOf,
  peersPrefix,
} from "./peers.js";
export {
  type FilesLog,
  formatBytes,
  ProgressLog,
  type ProgressSnapshot,
  progressOf,
  silentLog,
} from "./progress.js";
export { type CachedModel, SnapshotFetcher, type SnapshotOptions } from "./snapshot.js";
export { DEFAULT_HF_ENDPOINT, HubSource, type HubSourceOptions, hubOptionsFromEnv } from "./sources/hub.js";
export { LocalSource } from "./sources/local.js";
export { openSource, sourceForModel } from "./sources/open.js";
export { S3Source, s3ClientFromEnv } from "./sources/s3.js";
export type { ModelSource } from "./sources/source.js";
export { Throttle, throttled } from "./throttle.js";
