import { describe, expect, it } from "vitest";
import { synthesizeBlock, synthesizePrompt } from "./synthesis.js";

const row = (hashIds: number[], inputLength: number) => ({
  timestamp: 0,
  inputLength,
  outputLength: 1,
  hashIds,
});

describe("synthesizePrompt", () => {
  it("is deterministic and cut to input_length", () => {
    const a = synthesizePrompt(row([7, 8], 700));
    expect(a).toHaveLength(700);
    expect(synthesizePrompt(row([7, 8], 700))).toEqual(a);
  });

  it("gives equal token prefixes for equal hash_id prefixes and different tokens otherwise", () => {
    const a = synthesizePrompt(row([1, 2, 3], 1500));
    const b = synthesizePrompt(row([1, 2, 9], 1300));
    expect(b.slice(0, 1024)).toEqual(a.slice(0, 1024));
    expect(b.slice(1024, 1300)).not.toEqual(a.slice(1024, 1300));
    expect(synthesizeBlock(1)).toEqual(a.slice(0, 512));
    expect(synthesizeBlock(2, 100)).toEqual(a.slice(512, 612));
  });

  it("stays inside the vocabulary", () => {
    const ids = synthesizePrompt(row([42], 512), { vocabSize: 1000 });
    expect(Math.max(...ids)).toBeLessThan(1000);
    expect(Math.min(...ids)).toBeGreaterThanOrEqual(0);
    expect(new Set(ids).size).toBeGreaterThan(300);
  });

  it("rejects a row whose hash_ids cannot cover input_length", () => {
    expect(() => synthesizePrompt(row([1], 600))).toThrow(/too few/);
  });
});
