// Public surface of @kvasir/native: the positional KV indexer, native hashing and the block transfer engine.
export {
  type Addon,
  type AddonLoad,
  type BatchMatchArrays,
  type IndexMemoryStats,
  loadAddon,
  type MatchArrays,
  type RawNativeIndex,
} from "./addon.js";
export { createEmbeddedIndexer, type EmbeddedIndexer } from "./embedded-indexer.js";
export { hashBlocks, hashSeed, xxh3_64 } from "./hash.js";
export {
  loadNativeIndexer,
  NativeIndexer,
  type NativeIndexerLoad,
  type NativeIndexerOptions,
} from "./indexer.js";
export { EVENT_HEADER_BYTES, EVENT_KIND, PackedEventWriter, packEvents } from "./packed-events.js";
export {
  Region,
  type RegionDescriptor,
  removeOrphanedShmFiles,
  type TransferBackend,
  TransferEngine,
  type TransferEngineOptions,
  type TransferOptions,
  type TransferSegment,
  type TransportName,
} from "./transfer.js";
