import { describe, expect, it } from "vitest";
import { DeltaFrames } from "./sse.js";

const chunk = (text: string) => ({
  id: "cmpl-1",
  object: "text_completion",
  created: 1,
  model: 'a "quoted" model',
  choices: [{ index: 0, text, logprobs: null, finish_reason: null }],
  usage: null,
});

describe("DeltaFrames", () => {
  it("renders each chunk exactly as JSON.stringify of the whole chunk would", () => {
    const frames = new DeltaFrames(chunk);
    for (const text of ["plain", "", 'quote " and \\ backslash', "line\nbreak\u0000", "emoji 🦊 \ud800"]) {
      expect(frames.delta(text).text).toBe(`data: ${JSON.stringify(chunk(text))}\n\n`);
    }
  });

  it("refuses a chunk that does not hold the field once", () => {
    expect(() => new DeltaFrames(() => ({ text: "fixed" }))).toThrow(/exactly once/);
    expect(() => new DeltaFrames((m) => ({ a: m, b: m }))).toThrow(/exactly once/);
  });
});
