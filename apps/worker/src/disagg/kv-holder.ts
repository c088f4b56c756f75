// Prefill side of the KV transfer: after a prefill the prompt's KV blocks stay in a registered shared-memory region
// of the transfer engine until the decode worker has pulled them (ReleaseKvBlocks), the lease runs out (vLLM's
// kv_lease_duration), or the worker stops.
import { randomFillSync } from "node:crypto";
import { rmSync } from "node:fs";
import { type Region, type TransferEngine, xxh3_64 } from "@kvasir/native";
import type { KvReleaseReason } from "@kvasir/telemetry";
import type { HeldKv } from "./transfer-params.js";

export interface KvHolderOptions {
  /** Bytes of one KV block: tokens per block times bytes per token. */
  bytesPerBlock: number;
  /** Tokens per KV block. */
  blockSize: number;
  /** How long blocks wait for their decode worker before they are freed anyway. */
  leaseMs: number;
  /** Called whenever the number of held blocks changes, and when a hold ends. */
  onChange?: (heldBlocks: number) => void;
  onRelease?: (requestId: string, reason: KvReleaseReason, blocks: number) => void;
}

interface Hold {
  region: Region;
  blocks: number;
  lease: NodeJS.Timeout;
}

/** Bytes repeated through every block; a random header per block makes each block's checksum its own. */
const TILE_BYTES = 64 * 1024;
const HEADER_BYTES = 64;

/**
 * Fills the KV blocks a simulated prefill would have written. Random header plus a random tile per hold, copied
 * at memory speed: distinct bytes per block (so a misplaced block fails its checksum) without paying for random
 * generation over the whole region.
 */
function fillBlocks(bytes: Uint8Array, blocks: number, bytesPerBlock: number): void {
  const tile = randomFillSync(new Uint8Array(Math.min(TILE_BYTES, bytesPerBlock)));
  for (let b = 0; b < blocks; b++) {
    const start = b * bytesPerBlock;
    for (let o = 0; o < bytesPerBlock; o += tile.length) {
      bytes.set(tile.subarray(0, Math.min(tile.length, bytesPerBlock - o)), start + o);
    }
    randomFillSync(bytes, start, Math.min(HEADER_BYTES, bytesPerBlock));
  }
}

/** XXH3-64 of each block, as 16 hex digits. */
export function blockChecksums(bytes: Uint8Array, blocks: number, bytesPerBlock: number): string[] {
  return Array.from({ length: blocks }, (_, b) =>
    xxh3_64(bytes.subarray(b * bytesPerBlock, (b + 1) * bytesPerBlock))
      .toString(16)
      .padStart(16, "0"),
  );
}

export class KvHolder {
  private readonly holds = new Map<string, Hold>();
  private heldBlocks = 0;

  constructor(
    private readonly engine: TransferEngine,
    private readonly options: KvHolderOptions,
  ) {}

  /** Blocks held now, over all requests. */
  get blocks(): number {
    return this.heldBlocks;
  }

  /** Requests whose blocks are held now. */
  get requests(): number {
    return this.holds.size;
  }

  has(requestId: string): boolean {
    return this.holds.has(requestId);
  }

  /** Writes and registers the KV blocks of a `numTokens`-token prompt; replaces an earlier hold of the same id. */
  hold(requestId: string, numTokens: number): HeldKv {
    const { bytesPerBlock, blockSize } = this.options;
    const blocks = Math.ceil(numTokens / blockSize);
    if (this.holds.has(requestId)) this.release(requestId, "replaced");
    const region = this.engine.registerShm({ size: blocks * bytesPerBlock });
    fillBlocks(region.bytes, blocks, bytesPerBlock);
    const checksums = blockChecksums(region.bytes, blocks, bytesPerBlock);
    const lease = setTimeout(() => this.release(requestId, "lease_expired"), this.options.leaseMs);
    lease.unref();
    this.holds.set(requestId, { region, blocks, lease });
    this.heldBlocks += blocks;
    this.options.onChange?.(this.heldBlocks);
    return {
      requestId,
      blockIds: Array.from({ length: blocks }, (_, i) => i),
      bytesPerBlock,
      checksums,
      region: this.engine.describe(region),
      numTokens,
    };
  }

  /**
   * Frees a request's blocks: no new copy can start on them, and the memory goes once copies in flight have left.
   * Returns the number of blocks freed, 0 when none were held.
   */
  release(requestId: string, reason: KvReleaseReason): number {
    const hold = this.holds.get(requestId);
    if (!hold) return 0;
    this.holds.delete(requestId);
    clearTimeout(hold.lease);
    this.heldBlocks -= hold.blocks;
    // Unlinked now so no new shared-memory reader maps it (readers already in keep their mapping); TCP reads are
    // refused at once by deregister, whose promise only says when copies in flight have drained.
    if (hold.region.shmPath) rmSync(hold.region.shmPath, { force: true });
    this.engine.deregister(hold.region).catch(() => {});
    this.options.onChange?.(this.heldBlocks);
    this.options.onRelease?.(requestId, reason, hold.blocks);
    return hold.blocks;
  }

  /** Frees every hold (the worker is stopping). */
  close(): void {
    for (const requestId of [...this.holds.keys()]) this.release(requestId, "shutdown");
  }
}
