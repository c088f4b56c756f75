// The embedded KV index of `--router-mode kv`: the native positional indexer when its addon is built, else the
// TypeScript radix tree (with a warning, as it is the slower reference implementation).
import { type IndexerBackend, type KvIndexer, RadixIndexer } from "@kvasir/kv";
import { loadNativeIndexer } from "@kvasir/native";
import type { Logger } from "@kvasir/telemetry";

export function embeddedIndexer(backend: IndexerBackend, log: Logger): KvIndexer {
  if (backend === "native") {
    const native = loadNativeIndexer();
    if (native.ok) return native.create();
    log.warn("native indexer unavailable, using the TypeScript radix indexer", { reason: native.reason });
  }
  return new RadixIndexer();
}
