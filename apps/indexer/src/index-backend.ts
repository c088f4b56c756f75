import { type KvIndexer, RadixIndexer, type RadixSnapshot, type WorkerBlocks } from "@kvasir/kv";

/** An index plus what the service needs around it: block counts for metrics, and snapshots as bytes. */
export interface IndexBackend {
  readonly name: "ts" | "native";
  readonly index: KvIndexer;
  workerBlocks(): WorkerBlocks[];
  /** Returns once every event given so far is visible to lookups (the native index applies on a thread pool). */
  flush(): void;
  snapshot(): Uint8Array;
  /** Replaces the index's state with a snapshot's; throws when the bytes are not one. */
  restore(bytes: Uint8Array): void;
}

/** The TypeScript radix tree; snapshots are its JSON form. */
export function radixBackend(): IndexBackend {
  const index = new RadixIndexer();
  return {
    name: "ts",
    index,
    workerBlocks: () => index.workerBlocks(),
    flush: () => {},
    snapshot: () => new TextEncoder().encode(JSON.stringify(index.snapshot())),
    restore: (bytes) => index.restore(JSON.parse(new TextDecoder().decode(bytes)) as RadixSnapshot),
  };
}

interface BackendLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/**
 * The index to run: the one asked for, or by default the native one when its addon loads, else the TypeScript
 * radix tree (with a warning naming why).
 */
export async function chooseIndexBackend(
  wanted: "ts" | "native" | undefined,
  log: BackendLog,
): Promise<IndexBackend> {
  if (wanted === "ts") return radixBackend();
  const native = await nativeBackend();
  if ("backend" in native) return native.backend;
  if (wanted === "native") throw new Error(`native indexer unavailable: ${native.reason}`);
  log.warn("native indexer unavailable, using the TypeScript radix tree", { reason: native.reason });
  return radixBackend();
}

async function nativeBackend(): Promise<{ backend: IndexBackend } | { reason: string }> {
  let load: import("@kvasir/native").NativeIndexerLoad;
  try {
    // Imported on demand, so `--indexer-backend ts` never touches the addon.
    load = (await import("@kvasir/native")).loadNativeIndexer();
  } catch (error) {
    return { reason: error instanceof Error ? error.message : String(error) };
  }
  if (!load.ok) return { reason: load.reason };
  const index = load.create();
  return {
    backend: {
      name: "native",
      index,
      workerBlocks: () => index.workerBlocks(),
      flush: () => index.flush(),
      snapshot: () => {
        index.flush();
        return index.snapshot();
      },
      restore: (bytes) => index.restore(bytes),
    },
  };
}
