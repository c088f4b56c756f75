import { describe, expect, it } from "vitest";
import { bilerp, Correction, lerp, PerfModel, parsePerfTable } from "./perf-model.js";
import { TEST_TABLE } from "./test-profile.js";

describe("perf table", () => {
  it("accepts the mocker's --perf-profile layout and says what is wrong otherwise", () => {
    expect(parsePerfTable(JSON.parse(JSON.stringify(TEST_TABLE)))).toEqual(TEST_TABLE);
    expect(() => parsePerfTable([])).toThrow(/JSON object/);
    expect(() => parsePerfTable({ ...TEST_TABLE, prefill_isl: [1, 1, 2, 3, 4] })).toThrow(
      /strictly increasing/,
    );
    expect(() => parsePerfTable({ ...TEST_TABLE, prefill_ttft_ms: [1] })).toThrow(/differ in length/);
    expect(() => parsePerfTable({ ...TEST_TABLE, decode_itl: [[1, 2, 3]] })).toThrow(/one row per/);
    expect(() => parsePerfTable({ ...TEST_TABLE, decode_active_kv_tokens: "x" })).toThrow(/non-empty array/);
  });

  it("interpolates linearly and extrapolates the end segments", () => {
    expect(lerp([0, 10], [0, 100], 5)).toBe(50);
    expect(lerp([0, 10, 20], [0, 100, 300], 15)).toBe(200);
    expect(lerp([0, 10], [0, 100], 20)).toBe(200);
    expect(
      bilerp(
        [0, 10],
        [0, 10],
        [
          [0, 10],
          [100, 110],
        ],
        5,
        5,
      ),
    ).toBe(55);
  });
});

describe("PerfModel", () => {
  const model = new PerfModel(TEST_TABLE);

  it("reads TTFT and prefill throughput against prompt length", () => {
    expect(model.ttftMs(512)).toBe(50);
    expect(model.ttftMs(768)).toBe(70);
    expect(model.prefillTokensPerSecond(1024)).toBeCloseTo((1024 / 90) * 1000);
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
