// Registered regions kept for reuse. A long prompt's KV is hundreds of MiB; creating and first touching that much
// memory (shared-memory file reservation, page faults) costs far more than the copy itself, and it happens on the
// event loop. Reusing freed regions leaves the steady state with only the copy and the checksums.
import { rmSync } from "node:fs";
import type { Region, TransferEngine } from "@kvasir/native";

export interface RegionPoolOptions {
  /** Makes a region of exactly `size` bytes (registered with the engine). */
  create(size: number): Region;
  /** Freed regions kept, in bytes, at most; larger leftovers are deregistered. */
  maxPooledBytes: number;
}

/** Sizes grow in powers of two of `unit`, so a region fits any request within a factor of two of it. */
export function sizeClass(size: number, unit: number): number {
  const units = Math.max(1, Math.ceil(size / unit));
  return 2 ** Math.ceil(Math.log2(units)) * unit;
}

export class RegionPool {
  private readonly free: Region[] = [];
  private pooled = 0;

  constructor(
    private readonly engine: TransferEngine,
    private readonly options: RegionPoolOptions,
  ) {}

  /** Bytes of freed regions kept for reuse. */
  get pooledBytes(): number {
    return this.pooled;
  }

  /** A region of at least `size` bytes (and at most twice `sizeClass`), and whether it is new (never written). */
  acquire(size: number, unit: number): { region: Region; fresh: boolean } {
    const want = sizeClass(size, unit);
    let best = -1;
    this.free.forEach((r, i) => {
      if (r.size >= size && r.size <= 2 * want && (best < 0 || r.size < (this.free[best]?.size ?? 0)))
        best = i;
    });
    if (best >= 0) {
      const [region] = this.free.splice(best, 1);
      if (region) {
        this.pooled -= region.size;
        return { region, fresh: false };
      }
    }
    return { region: this.options.create(want), fresh: true };
  }

  /** Returns a region no copy uses any more; kept while the pool has room, else deregistered. */
  give(region: Region): void {
    if (this.pooled + region.size > this.options.maxPooledBytes) {
      this.drop(region);
      return;
    }
    this.free.push(region);
    this.pooled += region.size;
  }

  /** Deregisters a region (after copies in flight on it have drained), unlinking its shared-memory file now. */
  drop(region: Region): void {
    dropRegion(this.engine, region);
  }

  /** Deregisters every pooled region. */
  close(): void {
    for (const region of this.free.splice(0)) this.drop(region);
    this.pooled = 0;
  }
}

/**
 * Unlinks a shared-memory region's file at once, so no new reader maps it (readers already in keep their mapping),
 * and deregisters it: TCP reads are refused at once, and the promise only says when copies in flight have drained.
 */
export function dropRegion(engine: TransferEngine, region: Region): void {
  if (region.shmPath) rmSync(region.shmPath, { force: true });
  engine.deregister(region).catch(() => {});
}
