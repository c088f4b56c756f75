import { parsePerfProfile, perfProfileFile } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import { buildPerfProfile } from "./table.js";

describe("buildPerfProfile", () => {
  it("averages prefill repeats and grids decode measurements per context column", () => {
    const profile = buildPerfProfile(
      [
        { isl: 512, ttftMs: 40 },
        { isl: 128, ttftMs: 10 },
        { isl: 512, ttftMs: 60 },
      ],
      [
        { contextLength: 100, activeKvTokens: 100, itlMs: 5 },
        { contextLength: 100, activeKvTokens: 400, itlMs: 8 },
        { contextLength: 600, activeKvTokens: 600, itlMs: 6 },
        { contextLength: 600, activeKvTokens: 2400, itlMs: 12 },
      ],
    );
    expect(profile.prefillTokens).toEqual([128, 512]);
    expect(profile.prefillMs).toEqual([10, 50]);
    expect(profile.decodeContextLength).toEqual([100, 600]);
    expect(profile.decodeKvTokens).toEqual([100, 400, 600, 2400]);
    // Column 100 extrapolates past 400 along its own slope (1 ms per 100 tokens).
    expect(profile.decodeMs[3]?.[0]).toBeCloseTo(8 + 20);
    // Column 600 below its lightest point stays at it.
    expect(profile.decodeMs[0]?.[1]).toBe(6);
    // What `kvasir profile` writes (Dynamo's keys) reads back as the same profile.
    expect(parsePerfProfile(perfProfileFile(profile))).toEqual(profile);
  });

  it("refuses an empty sweep", () => {
    expect(() => buildPerfProfile([], [{ contextLength: 1, activeKvTokens: 1, itlMs: 1 }])).toThrow(
      /prefill/,
    );
  });
});
