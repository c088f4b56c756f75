import type { Tokenizer } from "@kvasir/llm";
import { describe, expect, it } from "vitest";
import { joinCompletionLogprobs, LogprobRenderer } from "./logprobs.js";

const vocab: Record<number, string> = { 1: "Hel", 2: "lo", 3: " é", 9: "</s>" };
const tokenizer: Pick<Tokenizer, "decode"> = {
  decode: (ids) => ids.map((id) => vocab[id] ?? "?").join(""),
};

const entry = (logprob: number, ...top: [number, number][]) => ({
  logprob,
  top: top.map(([tokenId, lp]) => ({ tokenId, logprob: lp })),
});

describe("logprob shapes", () => {
  it("renders chat logprobs with bytes and top alternatives, leaving hidden ids (EOS) out", () => {
    const renderer = new LogprobRenderer(tokenizer, (id) => id === 9);
    const out = renderer.chat([1, 3, 9], [entry(-0.5, [1, -0.5], [2, -1]), entry(-2, [2, -1]), entry(-0.1)]);
    expect(out).toEqual([
      {
        token: "Hel",
        logprob: -0.5,
        bytes: [72, 101, 108],
        top_logprobs: [
          { token: "Hel", logprob: -0.5, bytes: [72, 101, 108] },
          { token: "lo", logprob: -1, bytes: [108, 111] },
        ],
      },
      {
        token: " é",
        logprob: -2,
        bytes: [32, 195, 169],
        top_logprobs: [{ token: "lo", logprob: -1, bytes: [108, 111] }],
      },
    ]);
    expect(renderer.chat([1], undefined)).toEqual([]);
  });

  it("renders legacy completion logprobs with text offsets after the echoed prompt", () => {
    const renderer = new LogprobRenderer(tokenizer, () => false, 4);
    const first = renderer.completion([1], [entry(-0.5, [2, -1])]);
    const second = renderer.completion([2], [entry(-1)]);
    expect(joinCompletionLogprobs([first, second])).toEqual({
      tokens: ["Hel", "lo"],
      token_logprobs: [-0.5, -1],
      top_logprobs: [{ Hel: -0.5, lo: -1 }, { lo: -1 }],
      text_offset: [4, 7],
    });
  });
});
