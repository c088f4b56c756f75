// Loads the compiled addon (build/Release, or the file named by KVASIR_NATIVE_ADDON, e.g. an ASan build) and
// types its raw surface. Loading never throws: callers get the reason and fall back to TypeScript.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

/** Per (worker, dp rank) match arrays of one lookup, index-aligned. */
export interface MatchArrays {
  workerIds: BigUint64Array;
  dpRanks: Uint32Array;
  /** Matched prefix depth in blocks, always >= 1. */
  depths: Uint32Array;
}

/** What one runBatch call found: per lookup record its number of matches; the matches back to back. */
export interface BatchMatchArrays extends MatchArrays {
  counts: Uint32Array;
}

export interface IndexMemoryStats {
  /** Positions (block depths) with at least one block. */
  positions: number;
  /** (position, local hash) entries. */
  entries: number;
  /** Distinct blocks (prefixes). */
  blocks: number;
  /** Entries holding more than one block: chunk-hash collisions at one position. */
  collisionEntries: number;
  workers: number;
  /** Sum over workers of the blocks each holds. */
  heldBlocks: number;
  approxBytes: number;
}

export interface RawNativeIndex {
  id(): number;
  threads(): number;
  applyEvents(packed: Uint8Array): number;
  /** Events and lookups (packed records, lookups included) applied and answered in order, in one call. */
  runBatch(records: Uint8Array): BatchMatchArrays;
  flush(): void;
  findMatches(localHashes: BigUint64Array, seqHashes?: BigUint64Array): MatchArrays;
  removeWorker(workerId: bigint): void;
  clear(): void;
  snapshot(): Uint8Array;
  restore(snapshot: Uint8Array): void;
  memoryStats(): IndexMemoryStats;
  counters(): { unknownParent: number };
  lastEventId(workerId: bigint): bigint | undefined;
  workerBlocks(): { workerIds: BigUint64Array; dpRanks: Uint32Array; blocks: Float64Array };
}

export interface RawTransferEngine {
  registerMemory(memory: Uint8Array): number;
  registerShmFile(path: string, size: number, create: boolean): number;
  /** Resolves once no native copy uses the region any more. */
  deregister(region: number): Promise<void>;
  regionSize(region: number): number;
  regionView(region: number): ArrayBuffer;
  /** host: the IPv4 address to bind (default 127.0.0.1). */
  listen(port: number, host?: string): number;
  /** remote: "local:<region>", "shm:<size>:<path>" or "tcp:<host>:<port>:<region>"; segments in triples. */
  transfer(
    op: "read" | "write",
    localRegion: number,
    remote: string,
    segments: Float64Array,
    streams: number,
  ): Promise<void>;
  close(): void;
}

export interface Addon {
  NativeIndex: new (threads: number, jumpSize: number, openId?: number) => RawNativeIndex;
  TransferEngine: new (threads: number) => RawTransferEngine;
  xxh3_64(data: Uint8Array, seed?: bigint): bigint;
  hashBlocks(tokens: Uint32Array, blockSize: number, seed: bigint): [BigUint64Array, BigUint64Array];
}

export type AddonLoad = { ok: true; addon: Addon; path: string } | { ok: false; reason: string };

const defaultPath = fileURLToPath(new URL("../build/Release/kvasir_native.node", import.meta.url));
let cached: AddonLoad | undefined;

function isAddon(x: unknown): x is Addon {
  if (typeof x !== "object" || x === null) return false;
  const o = x as Record<string, unknown>;
  return ["NativeIndex", "TransferEngine", "xxh3_64", "hashBlocks"].every((k) => typeof o[k] === "function");
}

/** The addon, loaded once per thread. */
export function loadAddon(): AddonLoad {
  if (cached !== undefined) return cached;
  const path = process.env.KVASIR_NATIVE_ADDON ?? defaultPath;
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
    cached = { ok: false, reason: "the native addon supports little-endian hosts only" };
  } else if (!existsSync(path)) {
    cached = {
      ok: false,
      reason: `native addon not built (${path} is missing; run pnpm --filter @kvasir/native rebuild)`,
    };
  } else {
    try {
      const mod: unknown = createRequire(import.meta.url)(path);
      cached = isAddon(mod)
        ? { ok: true, addon: mod, path }
        : { ok: false, reason: `${path} is not the Kvasir addon` };
    } catch (err) {
      cached = {
        ok: false,
        reason: `loading ${path} failed: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
  }
  return cached;
}

/** The addon, or an Error naming why it is unavailable. */
export function requireAddon(): Addon {
  const r = loadAddon();
  if (!r.ok) throw new Error(r.reason);
  return r.addon;
}
