// The overlap index a router embeds: the native positional indexer (and native block hashing) when the addon is
// built, else the TypeScript radix tree and hashing (with a warning naming why, since they are the slower
// reference implementations).
import {
  computeLocalHashes,
  type HashOptions,
  type IndexerBackend,
  type KvIndexer,
  RadixIndexer,
} from "@kvasir/kv";
import { hashBlocks } from "./hash.js";
import { loadNativeIndexer } from "./indexer.js";

export interface EmbeddedIndexer {
  indexer: KvIndexer;
  backend: IndexerBackend;
  computeLocalHashes: typeof computeLocalHashes;
}

const nativeLocalHashes = (tokens: ArrayLike<number>, blockSize: number, opts?: HashOptions) =>
  hashBlocks(tokens instanceof Uint32Array ? tokens : Uint32Array.from(tokens), blockSize, opts).local;

export function createEmbeddedIndexer(
  backend: IndexerBackend,
  warn: (message: string, fields: Record<string, unknown>) => void,
): EmbeddedIndexer {
  if (backend === "native") {
    const native = loadNativeIndexer();
    if (native.ok)
      return { indexer: native.create(), backend: "native", computeLocalHashes: nativeLocalHashes };
    warn("native indexer unavailable, using the TypeScript radix indexer", { reason: native.reason });
  }
  return { indexer: new RadixIndexer(), backend: "ts", computeLocalHashes };
}
