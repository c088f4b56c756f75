import { describe, expect, it } from "vitest";
import { partialMatchLength } from "./partial-match.js";

describe("partialMatchLength", () => {
  it("finds the longest suffix that starts a pattern", () => {
    expect(partialMatchLength("abc <tool", ["<tool_call>"])).toBe(5);
    expect(partialMatchLength("abc <", ["<tool_call>", "<think>"])).toBe(1);
    expect(partialMatchLength("x STO", ["STOP", "TOP!"])).toBe(3);
  });

  it("ignores complete matches and non-matches", () => {
    expect(partialMatchLength("abc", ["<tool_call>"])).toBe(0);
    expect(partialMatchLength("a STOP", ["STOP"])).toBe(0);
    expect(partialMatchLength("", ["STOP"])).toBe(0);
    expect(partialMatchLength("abc", [])).toBe(0);
  });
});
