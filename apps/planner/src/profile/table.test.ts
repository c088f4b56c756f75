import { describe, expect, it } from "vitest";
import { parsePerfTable } from "../perf-model.js";
import { buildPerfTable } from "./table.js";

describe("buildPerfTable", () => {
  it("averages prefill repeats and grids decode measurements per context column", () => {
    const table = buildPerfTable(
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
    expect(table.prefill_isl).toEqual([128, 512]);
    expect(table.prefill_ttft_ms).toEqual([10, 50]);
    expect(table.decode_context_length).toEqual([100, 600]);
    expect(table.decode_active_kv_tokens).toEqual([100, 400, 600, 2400]);
    // Column 100 extrapolates past 400 along its own slope (1 ms per 100 tokens).
    expect(table.decode_itl[3]?.[0]).toBeCloseTo(8 + 20);
    // Column 600 below its lightest point stays at it.
    expect(table.decode_itl[0]?.[1]).toBe(6);
    expect(parsePerfTable(table)).toEqual(table);
  });

  it("refuses an empty sweep", () => {
    expect(() => buildPerfTable([], [{ contextLength: 1, activeKvTokens: 1, itlMs: 1 }])).toThrow(/prefill/);
  });
});
