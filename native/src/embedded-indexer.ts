// The overlap index a router embeds: the native positional indexer when its addon is built, else the TypeScript
// radix tree (with a warning naming why, since it is the slower reference implementation).
import { type IndexerBackend, type KvIndexer, RadixIndexer } from "@kvasir/kv";
import { loadNativeIndexer } from "./indexer.js";

export function createEmbeddedIndexer(
  backend: IndexerBackend,
  warn: (message: string, fields: Record<string, unknown>) => void,
): { indexer: KvIndexer; backend: IndexerBackend } {
  if (backend === "native") {
    const native = loadNativeIndexer();
    if (native.ok) return { indexer: native.create(), backend: "native" };
    warn("native indexer unavailable, using the TypeScript radix indexer", { reason: native.reason });
  }
  return { indexer: new RadixIndexer(), backend: "ts" };
}
