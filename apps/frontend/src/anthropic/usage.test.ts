import { describe, expect, it } from "vitest";
import { anthropicUsage } from "./messages.js";

describe("anthropicUsage", () => {
  it("keeps cache reads out of input_tokens", () => {
    expect(anthropicUsage({ promptTokens: 100, completionTokens: 5, cachedTokens: 64 }, 0, 5)).toEqual({
      input_tokens: 36,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 64,
      output_tokens: 5,
    });
  });

  it("counts what was not cached up to the breakpoint as written to the cache", () => {
    expect(anthropicUsage({ promptTokens: 100, completionTokens: 0, cachedTokens: 32 }, 90, 0)).toEqual({
      input_tokens: 10,
      cache_creation_input_tokens: 58,
      cache_read_input_tokens: 32,
      output_tokens: 0,
    });
    // A prefix cached past the breakpoint writes nothing.
    expect(anthropicUsage({ promptTokens: 100, completionTokens: 0, cachedTokens: 96 }, 90, 0)).toMatchObject(
      {
        input_tokens: 4,
        cache_creation_input_tokens: 0,
      },
    );
  });
});
