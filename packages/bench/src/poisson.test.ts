import { describe, expect, it } from "vitest";
import { poissonWorkload, seededUniform } from "./poisson.js";
import { synthesizePrompt } from "./synthesis.js";

describe("poissonWorkload", () => {
  it("arrives at the requested mean rate with exponential gaps", () => {
    const rows = poissonWorkload({ inputLength: 100, outputLength: 10, rate: 4, count: 20_000, seed: 7 });
    expect(rows).toHaveLength(20_000);
    const gaps = rows.slice(1).map((r, i) => r.timestamp - (rows[i]?.timestamp ?? 0));
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    expect(mean).toBeGreaterThan(240);
    expect(mean).toBeLessThan(260);
    // Exponential: about e^-1 of the gaps exceed the mean.
    const above = gaps.filter((g) => g > 250).length / gaps.length;
    expect(above).toBeGreaterThan(0.34);
    expect(above).toBeLessThan(0.4);
  });

  it("is the same for the same seed and differs for another", () => {
    const a = poissonWorkload({ inputLength: 8, outputLength: 2, rate: 1, count: 50, seed: 1 });
    const b = poissonWorkload({ inputLength: 8, outputLength: 2, rate: 1, count: 50, seed: 1 });
    const c = poissonWorkload({ inputLength: 8, outputLength: 2, rate: 1, count: 50, seed: 2 });
    expect(a).toEqual(b);
    expect(a.map((r) => r.timestamp)).not.toEqual(c.map((r) => r.timestamp));
  });

  it("stops at the duration and gives each request prompts of its own", () => {
    const rows = poissonWorkload({ inputLength: 1200, outputLength: 5, rate: 10, durationSeconds: 3 });
    expect(rows[0]?.timestamp).toBe(0);
    expect(rows.every((r) => r.timestamp <= 3000)).toBe(true);
    expect(rows.length).toBeGreaterThan(10);
    expect(rows[0]?.hashIds).toEqual([0, 1, 2]);
    expect(rows[1]?.hashIds).toEqual([3, 4, 5]);
    const prompt = synthesizePrompt(rows[1] as (typeof rows)[number]);
    expect(prompt).toHaveLength(1200);
  });

  it("refuses a workload it cannot generate", () => {
    expect(() => poissonWorkload({ inputLength: 8, outputLength: 2, rate: 0, count: 1 })).toThrow(/rate/);
    expect(() => poissonWorkload({ inputLength: 0, outputLength: 2, rate: 1, count: 1 })).toThrow(/input/);
    expect(() => poissonWorkload({ inputLength: 8, outputLength: 2, rate: 1 })).toThrow(/count/);
  });

  it("draws uniforms in [0, 1)", () => {
    const u = seededUniform(3);
    for (let i = 0; i < 1000; i++) {
      const x = u();
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });
});
