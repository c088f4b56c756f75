import { describe, expect, it } from "vitest";
import { promptOpensReasoning, type ReasoningDelta, ReasoningParser } from "./reasoning-parser.js";

function feed(parser: ReasoningParser, chunks: string[]): { deltas: ReasoningDelta[]; all: ReasoningDelta } {
  const deltas = [...chunks.map((c) => parser.push(c)), parser.flush()];
  return {
    deltas,
    all: {
      reasoning: deltas.map((d) => d.reasoning).join(""),
      content: deltas.map((d) => d.content).join(""),
    },
  };
}

// Every split of the text into two chunks must parse to the same result as the whole text.
function expectSplitInvariant(text: string, expected: ReasoningDelta, startInReasoning = false): void {
  for (let i = 0; i <= text.length; i++) {
    const { all } = feed(new ReasoningParser({ startInReasoning }), [text.slice(0, i), text.slice(i)]);
    expect(all, `split at ${i}`).toEqual(expected);
  }
}

describe("ReasoningParser", () => {
  it("splits Qwen3 thinking output into reasoning and content", () => {
    expectSplitInvariant("<think>\nLet me think.\n</think>\n\nThe answer is 4.", {
      reasoning: "Let me think.",
      content: "The answer is 4.",
    });
  });

  it("streams reasoning as it arrives and holds only tag fragments", () => {
    const { deltas } = feed(new ReasoningParser(), ["<thi", "nk>ab", "c</th", "ink>", "d"]);
    expect(deltas.map((d) => [d.reasoning, d.content])).toEqual([
      ["", ""],
      ["ab", ""],
      ["c", ""],
      ["", ""],
      ["", "d"],
      ["", ""],
    ]);
  });

  it("treats output without a think block as content", () => {
    expectSplitInvariant("Hello <think> is a tag", { reasoning: "", content: "Hello <think> is a tag" });
    expectSplitInvariant("<thin>x", { reasoning: "", content: "<thin>x" });
  });

  it("starts in reasoning when the prompt opened the block (DeepSeek-R1)", () => {
    expectSplitInvariant("plan</think>answer", { reasoning: "plan", content: "answer" }, true);
  });

  it("keeps inner newlines and releases held newlines that do not precede the end tag", () => {
    expectSplitInvariant("<think>a\n\nb\n</think>c", { reasoning: "a\n\nb", content: "c" });
    const { deltas } = feed(new ReasoningParser(), ["<think>a\n", "\n", "b"]);
    expect(deltas.map((d) => d.reasoning)).toEqual(["a", "", "\n\nb", ""]);
  });

  it("keeps unterminated reasoning as reasoning", () => {
    expect(feed(new ReasoningParser(), ["<think>still going </th"]).all).toEqual({
      reasoning: "still going </th",
      content: "",
    });
  });

  it("detects prompts that end inside a reasoning block", () => {
    expect(promptOpensReasoning("<|im_start|>assistant\n<think>\n")).toBe(true);
    expect(promptOpensReasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n")).toBe(false);
    expect(promptOpensReasoning("<|im_start|>assistant\n")).toBe(false);
  });
});
