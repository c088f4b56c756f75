import { describe, expect, it } from "vitest";
import { type ChatOutputDelta, ChatOutputParser, type ChatOutputParserOptions } from "./output-parser.js";

function run(opts: ChatOutputParserOptions, chunks: string[]): ChatOutputDelta {
  let n = 0;
  const parser = new ChatOutputParser({ ...opts, newToolCallId: () => `call_${n++}` });
  const deltas = [...chunks.map((c) => parser.push(c)), parser.flush()];
  return {
    reasoningContent: deltas.map((d) => d.reasoningContent).join(""),
    content: deltas.map((d) => d.content).join(""),
    toolCalls: deltas.flatMap((d) => d.toolCalls),
  };
}

/** The same split whole, cut in two anywhere, and one character at a time. */
function expectChunkingInvariant(
  opts: ChatOutputParserOptions,
  text: string,
  expected: ChatOutputDelta,
): void {
  expect(run(opts, [text]), "whole").toEqual(expected);
  for (let i = 0; i <= text.length; i++) {
    expect(run(opts, [text.slice(0, i), text.slice(i)]), `split at ${i}`).toEqual(expected);
  }
  expect(run(opts, [...text]), "one character at a time").toEqual(expected);
}

describe("granite", () => {
  it("splits Granite 3.2's thought process from its response, in both phrasings", () => {
    expectChunkingInvariant(
      { reasoningParser: "granite" },
      "Here is my thought process:\nThe user wants 2+2.\nHere is my response:\n4",
      { reasoningContent: "The user wants 2+2.", content: "4", toolCalls: [] },
    );
    expectChunkingInvariant(
      { reasoningParser: "granite" },
      "Here's my thought process:\nAdd them.\n\nHere's my response:\nIt is 4.",
      { reasoningContent: "Add them.", content: "It is 4.", toolCalls: [] },
    );
  });

  it("leaves output without the phrases as content", () => {
    expectChunkingInvariant({ reasoningParser: "granite" }, "Here is the answer: 4", {
      reasoningContent: "",
      content: "Here is the answer: 4",
      toolCalls: [],
    });
  });
});

describe("kimi", () => {
  it("splits ◁think▷ ... ◁/think▷ (Kimi-VL-Thinking) and ignores <think>", () => {
    expectChunkingInvariant({ reasoningParser: "kimi" }, "◁think▷Two plus two.◁/think▷4", {
      reasoningContent: "Two plus two.",
      content: "4",
      toolCalls: [],
    });
    expectChunkingInvariant({ reasoningParser: "kimi" }, "<think>x</think>y", {
      reasoningContent: "",
      content: "<think>x</think>y",
      toolCalls: [],
    });
  });
});

const gptOssCall =
  "<|channel|>analysis<|message|>Need the weather; call the tool.<|end|><|start|>assistant<|channel|>commentary " +
  'to=functions.get_weather <|constrain|>json<|message|>{"city":"Paris"}<|call|>';

describe("gpt_oss", () => {
  it("reads the analysis channel as reasoning and the final channel as content", () => {
    expectChunkingInvariant(
      { reasoningParser: "gpt_oss" },
      "<|channel|>analysis<|message|>Simple greeting.<|end|><|start|>assistant<|channel|>final<|message|>Hi!<|return|>",
      { reasoningContent: "Simple greeting.", content: "Hi!", toolCalls: [] },
    );
  });

  it("reads a commentary preamble without a recipient as content", () => {
    expectChunkingInvariant(
      { reasoningParser: "gpt_oss", toolCallParser: "harmony" },
      "<|channel|>analysis<|message|>Plan.<|end|><|start|>assistant<|channel|>commentary<|message|>Checking now.<|end|>",
      { reasoningContent: "Plan.", content: "Checking now.", toolCalls: [] },
    );
  });

  it("hands tool-call messages to the harmony tool parser", () => {
    expectChunkingInvariant({ reasoningParser: "gpt_oss", toolCallParser: "harmony" }, gptOssCall, {
      reasoningContent: "Need the weather; call the tool.",
      content: "",
      toolCalls: [
        {
          index: 0,
          id: "call_0",
          type: "function",
          function: { name: "get_weather", arguments: '{"city":"Paris"}' },
        },
      ],
    });
  });
});

describe("streaming tool dispatch", () => {
  const text =
    '<tool_call>{"name": "f", "arguments": {}}</tool_call> and then <tool_call>{"name": "g", "arguments": {}}';

  it("returns a call from the push that completes it when on", () => {
    const parser = new ChatOutputParser({ toolCallParser: "hermes", streamingToolDispatch: true });
    expect(parser.push(text.slice(0, 20)).toolCalls).toEqual([]);
    expect(parser.push(text.slice(20, 60)).toolCalls.map((c) => c.function.name)).toEqual(["f"]);
    expect(parser.push(text.slice(60)).toolCalls).toEqual([]);
    expect(parser.flush().toolCalls.map((c) => c.function.name)).toEqual(["g"]);
  });

  it("holds every call for the end when off (Dynamo's default)", () => {
    const parser = new ChatOutputParser({ toolCallParser: "hermes" });
    expect(parser.push(text).toolCalls).toEqual([]);
    expect(parser.toolCallCount).toBe(1);
    expect(parser.flush().toolCalls.map((c) => [c.index, c.function.name])).toEqual([
      [0, "f"],
      [1, "g"],
    ]);
  });
});
