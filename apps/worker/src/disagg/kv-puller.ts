// Decode side of the KV transfer: allocate room for the prompt's blocks, read them from the prefill worker's region
// (shared memory when it is on this host, TCP otherwise), check every block against the prefill's checksum, and
// tell the prefill worker to free them. Any failure is a KvPullError whose reason the caller counts before it
// recomputes the prefill locally.

import { lookup } from "node:dns/promises";
import { existsSync } from "node:fs";
import { isIPv4 } from "node:net";
import type { TransferEngine, TransferSegment, TransportName } from "@kvasir/native";
import type { KvTransferFallbackReason } from "@kvasir/telemetry";
import { blockChecksums } from "./kv-holder.js";
import { RegionPool } from "./region-pool.js";
import type { RemoteKv } from "./transfer-params.js";

export class KvPullError extends Error {
  override readonly name = "KvPullError";
  constructor(
    readonly reason: KvTransferFallbackReason,
    message: string,
  ) {
    super(message);
  }
}

export interface KvPullResult {
  bytes: number;
  blocks: number;
  seconds: number;
  transport: TransportName;
}

export interface KvPullerOptions {
  /** Pull buffers kept for reuse once free, in bytes (default 2 GiB). */
  maxPooledBytes?: number;
  /** This worker's advertised host: a region advertised from the same host is read through shared memory. */
  selfHost: string;
  /** A pull that takes longer is abandoned (and the prefill recomputed). */
  timeoutMs: number;
  /** Tells the prefill worker at `url` to free `requestId`'s blocks; must not throw. */
  release(url: string, requestId: string): Promise<void>;
}

/** One segment per run of consecutive block ids, so a whole prompt is usually one copy. */
export function segmentsOf(blockIds: readonly number[], bytesPerBlock: number): TransferSegment[] {
  const segments: TransferSegment[] = [];
  blockIds.forEach((id, i) => {
    const last = segments.at(-1);
    const remoteOffset = id * bytesPerBlock;
    if (last && last.remoteOffset + last.length === remoteOffset) last.length += bytesPerBlock;
    else segments.push({ localOffset: i * bytesPerBlock, remoteOffset, length: bytesPerBlock });
  });
  return segments;
}

/** Resolves when `signal` aborts or `ms` pass, rejecting with the matching KvPullError. */
function deadline(ms: number, signal: AbortSignal): { promise: Promise<never>; clear(): void } {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new KvPullError("timeout", `the pull took longer than ${ms} ms`)), ms);
    onAbort = () => reject(new KvPullError("error", "the request was aborted during the pull"));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  return {
    promise,
    clear() {
      clearTimeout(timer);
      if (onAbort) signal.removeEventListener("abort", onAbort);
    },
  };
}

export class KvPuller {
  private readonly pool: RegionPool;

  constructor(
    private readonly engine: TransferEngine,
    private readonly options: KvPullerOptions,
  ) {
    this.pool = new RegionPool(engine, {
      create: (size) => engine.registerMemory(new Uint8Array(size)),
      maxPooledBytes: options.maxPooledBytes ?? 2 ** 31,
    });
  }

  /** Bytes of free pull buffers kept for reuse. */
  get pooledBytes(): number {
    return this.pool.pooledBytes;
  }

  /** Deregisters the pooled buffers. */
  close(): void {
    this.pool.close();
  }

  /**
   * Pulls and verifies the blocks, then releases them on the prefill worker (also when the pull fails, so the
   * prefill frees them before its lease runs out). Throws KvPullError; an abort of `signal` ends the wait at once.
   */
  async pull(remote: RemoteKv, signal: AbortSignal): Promise<KvPullResult> {
    const started = performance.now();
    try {
      const result = await this.read(remote, signal);
      return { ...result, seconds: (performance.now() - started) / 1000 };
    } finally {
      void this.options.release(remote.releaseUrl, remote.requestId);
    }
  }

  /** Releases the blocks on the prefill worker without pulling them. */
  abandon(remote: RemoteKv): void {
    void this.options.release(remote.releaseUrl, remote.requestId);
  }

  private async read(remote: RemoteKv, signal: AbortSignal): Promise<Omit<KvPullResult, "seconds">> {
    const { blockIds, bytesPerBlock } = remote;
    const size = blockIds.length * bytesPerBlock;
    const transport = this.transportFor(remote);
    const descriptor =
      transport === "tcp" && remote.region.tcp
        ? {
            ...remote.region,
            tcp: { ...remote.region.tcp, address: await ipv4Of(remote.region.tcp.address) },
          }
        : remote.region;
    if (transport === "tcp" && !descriptor.tcp) {
      throw new KvPullError("unreachable", "the prefill worker's region is neither on this host nor on TCP");
    }
    if (signal.aborted) throw new KvPullError("error", "the request was aborted before the pull");
    const { region: local } = this.pool.acquire(size, bytesPerBlock);
    const wait = deadline(this.options.timeoutMs, signal);
    // Until the native copy has settled the buffer may still be written: only then can it be reused.
    let settled = false;
    try {
      const copy = this.engine.read(local, descriptor, segmentsOf(blockIds, bytesPerBlock), { transport });
      const done = copy.finally(() => {
        settled = true;
      });
      // A copy abandoned on timeout or abort still settles later; its rejection is expected then.
      done.catch(() => {});
      await Promise.race([done, wait.promise]).catch((error: unknown) => {
        if (error instanceof KvPullError) throw error;
        throw new KvPullError(
          "unreachable",
          `reading from ${describeRemote(remote, transport)} failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      });
      const got = blockChecksums(local.bytes, blockIds.length, bytesPerBlock);
      const bad = got.findIndex((c, i) => c !== remote.checksums[i]);
      if (bad >= 0) {
        throw new KvPullError(
          "checksum",
          `block ${blockIds[bad]} arrived with checksum ${got[bad]}, the prefill worker sent ${remote.checksums[bad]}`,
        );
      }
      return { bytes: size, blocks: blockIds.length, transport };
    } finally {
      wait.clear();
      // deregister resolves once the native copy has left the buffer; the buffer stays referenced till then.
      if (settled) this.pool.give(local);
      else this.pool.drop(local);
    }
  }

  /** Shared memory when the prefill worker advertises this host and its file is visible here; TCP otherwise. */
  private transportFor(remote: RemoteKv): TransportName {
    const shm = remote.region.shm;
    if (shm && remote.host === this.options.selfHost && existsSync(shm.path)) return "shm";
    return "tcp";
  }
}

function describeRemote(remote: RemoteKv, transport: TransportName): string {
  return transport === "shm"
    ? `${remote.region.shm?.path} (shared memory)`
    : `${remote.region.tcp?.address}:${remote.region.tcp?.port} (TCP)`;
}

/** The native TCP transport dials IPv4 addresses only; advertised host names are resolved here. */
async function ipv4Of(host: string): Promise<string> {
  if (isIPv4(host) || host === "localhost") return host;
  try {
    return (await lookup(host, { family: 4 })).address;
  } catch (error) {
    throw new KvPullError(
      "unreachable",
      `cannot resolve the prefill worker's host ${host}: ${String(error)}`,
    );
  }
}
