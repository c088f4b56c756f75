import { describe, expect, it } from "vitest";
import type { PoolDecision } from "./decide.js";
import { clampToLimits, fitGpuBudget, type PoolLimits, ScaleDownStabiliser } from "./limits.js";

const limits = (min: number, max: number, gpus = 1): PoolLimits => ({ min, max, gpusPerEngine: gpus });
const all = { prefill: limits(1, 8, 1), decode: limits(1, 8, 2), backend: limits(1, 4) };
const d = (pool: PoolDecision["pool"], current: number, desired: number): PoolDecision => ({
  pool,
  current,
  desired,
  reason: "r",
});

describe("limits", () => {
  it("clamps to min and max and says so", () => {
    const [a, b] = clampToLimits([d("backend", 2, 9), d("prefill", 2, 0)], all);
    expect(a).toMatchObject({ desired: 4, reason: /clamped to 4/ });
    expect(b?.desired).toBe(1);
  });

  it("fits the GPU budget, never below a pool's minimum", () => {
    const out = fitGpuBudget([d("prefill", 2, 6), d("decode", 2, 6)], all, 9);
    const gpus = (out[0]?.desired ?? 0) * 1 + (out[1]?.desired ?? 0) * 2;
    expect(gpus).toBeLessThanOrEqual(9);
    expect(out[0]?.desired).toBeGreaterThanOrEqual(1);
    expect(out[1]?.reason).toMatch(/GPU budget/);
    expect(fitGpuBudget([d("prefill", 2, 6)], all, -1)[0]?.desired).toBe(6);
    expect(fitGpuBudget([d("prefill", 1, 1), d("decode", 1, 1)], all, 1).map((x) => x.desired)).toEqual([
      1, 1,
    ]);
  });

  it("holds a scale-down at the highest size asked for within the window", () => {
    const s = new ScaleDownStabiliser(30_000);
    expect(s.apply([d("backend", 2, 4)], 0)[0]?.desired).toBe(4);
    expect(s.apply([d("backend", 4, 1)], 10_000)[0]).toMatchObject({ desired: 4, reason: /held at 4/ });
    expect(s.apply([d("backend", 4, 2)], 29_000)[0]?.desired).toBe(4);
    // The 4 is out of the window; the 2 at 29 s is not.
    expect(s.apply([d("backend", 4, 1)], 31_000)[0]?.desired).toBe(2);
    expect(s.apply([d("backend", 2, 1)], 70_000)[0]?.desired).toBe(1);
  });

  it("never delays a scale-up", () => {
    const s = new ScaleDownStabiliser(60_000);
    s.apply([d("backend", 1, 1)], 0);
    expect(s.apply([d("backend", 1, 3)], 1000)[0]?.desired).toBe(3);
  });
});
