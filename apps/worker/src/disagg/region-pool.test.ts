import { existsSync } from "node:fs";
import { TransferEngine } from "@kvasir/native";
import { afterAll, describe, expect, it } from "vitest";
import { RegionPool, sizeClass } from "./region-pool.js";

describe("sizeClass", () => {
  it("rounds up to a power of two of the unit", () => {
    expect([1, 10, 11, 30, 31, 40, 41, 80].map((s) => sizeClass(s, 10))).toEqual([
      10, 10, 20, 40, 40, 40, 80, 80,
    ]);
    expect(sizeClass(0, 10)).toBe(10);
  });
});

describe("RegionPool", () => {
  const engine = new TransferEngine({ threads: 1 });
  afterAll(() => engine.close());

  it("reuses a freed region that fits within a factor of two, and keeps no more than its cap", () => {
    const created: number[] = [];
    const pool = new RegionPool(engine, {
      create: (size) => {
        created.push(size);
        return engine.registerShm({ size });
      },
      maxPooledBytes: 100,
    });
    const a = pool.acquire(30, 10);
    expect(a.fresh).toBe(true);
    expect(a.region.size).toBe(40);
    pool.give(a.region);
    expect(pool.pooledBytes).toBe(40);
    // 25 bytes want a 40-byte class: the pooled 40 fits.
    const b = pool.acquire(25, 10);
    expect(b).toMatchObject({ fresh: false });
    expect(b.region).toBe(a.region);
    // 5 bytes want 10: a 40-byte region is more than twice that, so a new one is made.
    const c = pool.acquire(5, 10);
    expect(c.fresh).toBe(true);
    expect(created).toEqual([40, 10]);
    const big = pool.acquire(90, 10);
    pool.give(b.region);
    pool.give(c.region);
    // Over the cap: deregistered, its shared-memory file gone.
    pool.give(big.region);
    expect(pool.pooledBytes).toBe(50);
    expect(existsSync(big.region.shmPath ?? "")).toBe(false);
    pool.close();
    expect(pool.pooledBytes).toBe(0);
    expect(existsSync(b.region.shmPath ?? "")).toBe(false);
  });
});
