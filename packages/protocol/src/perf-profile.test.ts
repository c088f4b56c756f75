import { describe, expect, it } from "vitest";
import {
  decodeStepMs,
  interpolate1d,
  interpolate2d,
  type PerfProfile,
  parsePerfProfile,
  perfProfileFile,
  prefillStepMs,
  speedUpPerfProfile,
} from "./perf-profile.js";

const file = {
  prefill_isl: [200, 1000, 3000],
  prefill_ttft_ms: [6, 12, 30],
  decode_active_kv_tokens: [2000, 100000],
  decode_context_length: [100, 1000],
  decode_itl: [
    [4, 5],
    [8, 10],
  ],
};
const profile: PerfProfile = {
  prefillTokens: [200, 1000, 3000],
  prefillMs: [6, 12, 30],
  decodeKvTokens: [2000, 100000],
  decodeContextLength: [100, 1000],
  decodeMs: [
    [4, 5],
    [8, 10],
  ],
};

describe("parsePerfProfile", () => {
  it("reads Dynamo's perf-data keys and the card's into the card's layout, and writes the file layout back", () => {
    expect(parsePerfProfile(file)).toEqual(profile);
    expect(parsePerfProfile(profile)).toEqual(profile);
    expect(perfProfileFile(profile)).toEqual(file);
    // Times may fall as well as rise (a measured profile is noisy); only the axes must increase.
    expect(parsePerfProfile({ ...file, prefill_ttft_ms: [6, 4, 30] }).prefillMs).toEqual([6, 4, 30]);
  });

  it("refuses bad input with an error naming the field under the layout's own key", () => {
    const bad: [unknown, RegExp][] = [
      [[], /must be a JSON object/],
      ["fast", /must be a JSON object/],
      [{ ...file, prefill_isl: [] }, /prefill_isl must be a non-empty array/],
      [{ ...file, decode_active_kv_tokens: "x" }, /decode_active_kv_tokens must be a non-empty array/],
      [{ ...file, prefill_isl: [3000, 1000, 200] }, /prefill_isl must be strictly increasing/],
      [{ ...file, decode_context_length: [100, 100] }, /decode_context_length must be strictly increasing/],
      [{ ...file, prefill_ttft_ms: [1, 2] }, /prefill_isl has 3 entries but prefill_ttft_ms has 2/],
      [{ ...file, prefill_ttft_ms: [6, -1, 30] }, /prefill_ttft_ms must hold finite non-negative/],
      [{ ...file, decode_context_length: ["a", 1] }, /decode_context_length must hold finite/],
      [
        { ...file, decode_itl: [[1, 2]] },
        /decode_itl must have one row per decode_active_kv_tokens entry \(2\)/,
      ],
      [{ ...file, decode_itl: [[1], [2, 3]] }, /decode_itl row 0 has 1 entries, decode_context_length has 2/],
      [{ ...file, decode_itl: [[1, 2], null] }, /decode_itl\[1\] must be a non-empty array/],
      [{ prefill_isl: [1] }, /prefill_ttft_ms must be a non-empty array/],
      [{ ...profile, prefillMs: [Number.NaN, 1, 2] }, /prefillMs must hold finite/],
      [{ ...profile, decodeMs: [[3, 3.1]] }, /decodeMs must have one row per decodeKvTokens entry/],
      [{}, /prefillTokens must be a non-empty array/],
    ];
    for (const [json, message] of bad) expect(() => parsePerfProfile(json)).toThrow(message);
  });
});

describe("interpolation", () => {
  it("is linear between points and extends the end segments below the first and above the last", () => {
    const xs = [0, 10, 20];
    const ys = [0, 100, 300];
    expect(interpolate1d(xs, ys, 5)).toBe(50);
    expect(interpolate1d(xs, ys, 15)).toBe(200);
    expect(interpolate1d(xs, ys, 10)).toBe(100);
    expect(interpolate1d(xs, ys, 20)).toBe(300);
    expect(interpolate1d(xs, ys, 30)).toBe(500);
    expect(interpolate1d(xs, ys, -10)).toBe(-100);
    expect(interpolate1d([5], [7], 100)).toBe(7);
    expect(() => interpolate1d([], [], 1)).toThrow(/at least one point/);
  });

  it("is bilinear on the grid, extending the edge cells, and linear in one axis when the other has one point", () => {
    const z = [
      [0, 10],
      [20, 30],
    ];
    expect(interpolate2d([0, 1], [0, 1], z, 0, 0)).toBe(0);
    expect(interpolate2d([0, 1], [0, 1], z, 1, 1)).toBe(30);
    expect(interpolate2d([0, 1], [0, 1], z, 0.5, 0.5)).toBe(15);
    expect(interpolate2d([0, 1], [0, 1], z, 2, 0)).toBe(40);
    expect(interpolate2d([0, 1], [0, 1], z, 0, -1)).toBe(-10);
    expect(interpolate2d([0, 1], [7], [[2], [4]], 0.5, 100)).toBe(3);
    expect(interpolate2d([7], [0, 1], [[2, 4]], 100, 0.5)).toBe(3);
  });

  it("prices steps: prefill by new tokens, decode by (KV tokens, mean context), 0 for no work, never below 0", () => {
    expect(prefillStepMs(profile, 2000)).toBe(21);
    expect(prefillStepMs(profile, 0)).toBe(0);
    // Extrapolating the first segment down to 1 token: 6 - 199 * 6 / 800 ms.
    expect(prefillStepMs(profile, 1)).toBeCloseTo(6 - (199 * 6) / 800, 12);
    expect(prefillStepMs({ ...profile, prefillMs: [50, 60, 70] }, 1)).toBeGreaterThan(0);
    expect(prefillStepMs({ ...profile, prefillMs: [1, 100, 200] }, 1)).toBe(0);
    expect(decodeStepMs(profile, 2000, 100)).toBe(4);
    expect(decodeStepMs(profile, 100000, 550)).toBe(9);
    expect(decodeStepMs(profile, 0, 0)).toBe(0);
  });

  it("speeds up every time and no token count", () => {
    const half = speedUpPerfProfile(profile, 2);
    expect(half.prefillMs).toEqual([3, 6, 15]);
    expect(half.decodeMs).toEqual([
      [2, 2.5],
      [4, 5],
    ]);
    expect(half.prefillTokens).toEqual(profile.prefillTokens);
  });
});
