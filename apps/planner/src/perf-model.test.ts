import { describe, expect, it } from "vitest";
import { Correction, PerfModel } from "./perf-model.js";
import { TEST_TABLE } from "./test-profile.js";

describe("PerfModel", () => {
  const model = new PerfModel(TEST_TABLE);

  it("reads TTFT and prefill throughput against prompt length", () => {
    expect(model.ttftMs(512)).toBe(50);
    expect(model.ttftMs(768)).toBe(70);
    expect(model.prefillTokensPerSecond(1024)).toBeCloseTo((1024 / 90) * 1000);
    // Past the last point the end segment extends: 400 ms at 4096, 220 ms more per 2048 tokens.
    expect(model.ttftMs(6144)).toBe(620);
  });

  it("never predicts less than 0.01 ms, so capacities stay finite", () => {
    const free = new PerfModel({ ...TEST_TABLE, prefillMs: [0, 50, 90, 180, 400] });
    expect(free.ttftMs(64)).toBe(0.01);
    expect(model.ttftMs(0)).toBe(0.01);
    expect(model.itlMs(0, 1024)).toBe(0.01);
    expect(Number.isFinite(free.prefillTokensPerSecond(64))).toBe(true);
  });

  it("finds the best decode throughput within an ITL target, more with a looser target", () => {
    const tight = model.decodeCapacity(12, 1024);
    const loose = model.decodeCapacity(40, 1024);
    expect(tight.meetsTarget).toBe(true);
    expect(tight.itlMs).toBeLessThanOrEqual(12);
    expect(loose.tokensPerSecond).toBeGreaterThan(tight.tokensPerSecond);
    expect(loose.concurrency).toBeGreaterThan(tight.concurrency);
    const impossible = model.decodeCapacity(1, 1024);
    expect(impossible.meetsTarget).toBe(false);
    expect(impossible.concurrency).toBe(1);
  });
});

describe("Correction", () => {
  it("is the observed/predicted ratio, kept when nothing was observed, clamped, and 1 when disabled", () => {
    const c = new Correction();
    expect(c.updatePrefill(100, 50)).toBe(2);
    expect(c.updatePrefill(0, 50)).toBe(2);
    expect(c.updateDecode(1, 1000)).toBe(0.05);
    expect(new Correction(false).updateDecode(10, 5)).toBe(1);
  });
});
