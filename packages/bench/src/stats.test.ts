import { describe, expect, it } from "vitest";
import { percentile, summarize } from "./stats.js";

describe("percentile", () => {
  it("interpolates between ranks", () => {
    const sorted = [10, 20, 30, 40, 50];
    expect(percentile(sorted, 0)).toBe(10);
    expect(percentile(sorted, 50)).toBe(30);
    expect(percentile(sorted, 90)).toBeCloseTo(46);
    expect(percentile(sorted, 100)).toBe(50);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
  });
});

describe("summarize", () => {
  it("sorts a copy and reports count, mean and percentiles", () => {
    const values = Array.from({ length: 101 }, (_, i) => 100 - i);
    const s = summarize(values);
    expect(values[0]).toBe(100);
    expect(s).toEqual({ count: 101, mean: 50, min: 0, p50: 50, p90: 90, p99: 99, max: 100 });
  });

  it("is all NaN but count for no values", () => {
    const s = summarize([]);
    expect(s.count).toBe(0);
    expect(s.p99).toBeNaN();
    expect(s.mean).toBeNaN();
  });
});
