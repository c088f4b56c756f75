import { describe, expect, it } from "vitest";
import { type ChatOutputDelta, ChatOutputParser, type ChatOutputParserOptions } from "./output-parser.js";

function parse(opts: ChatOutputParserOptions, chunks: string[]): ChatOutputDelta {
  let n = 0;
  const parser = new ChatOutputParser({ ...opts, newToolCallId: () => `call_${n++}` });
  const deltas = [...chunks.map((c) => parser.push(c)), parser.flush()];
  return {
    reasoningContent: deltas.map((d) => d.reasoningContent).join(""),
    content: deltas.map((d) => d.content).join(""),
    toolCalls: deltas.flatMap((d) => d.toolCalls),
  };
}

const output =
  '<think>\nNeed the weather. <tool_call> is how I call.\n</think>\n\n<tool_call>\n{"name": "w", "arguments": {}}\n</tool_call>';

describe("ChatOutputParser", () => {
  it("parses reasoning, then tool calls outside the reasoning only", () => {
    const chunks = output.match(/.{1,3}/gs) ?? [];
    expect(parse({ reasoningParser: "qwen3", toolCallParser: "hermes" }, chunks)).toEqual({
      reasoningContent: "Need the weather. <tool_call> is how I call.",
      content: "",
      toolCalls: [{ index: 0, id: "call_0", type: "function", function: { name: "w", arguments: "{}" } }],
    });
  });

  it("passes text through when no parser is configured", () => {
    expect(parse({}, [output])).toEqual({ reasoningContent: "", content: output, toolCalls: [] });
  });

  it("starts inside reasoning for deepseek_r1 unless the prompt closed the block", () => {
    expect(parse({ reasoningParser: "deepseek_r1" }, ["a</think>b"])).toMatchObject({
      reasoningContent: "a",
      content: "b",
    });
    expect(parse({ reasoningParser: "deepseek_r1", promptOpensReasoning: false }, ["a"])).toMatchObject({
      reasoningContent: "",
      content: "a",
    });
  });

  it("parses an unterminated call held by the tool stage at the end", () => {
    const result = parse({ reasoningParser: "qwen3", toolCallParser: "hermes" }, [
      '<think>x</think><tool_call>{"name": "f", "arguments": {"a": 1}}',
    ]);
    expect(result.toolCalls.map((c) => c.function)).toEqual([{ name: "f", arguments: '{"a":1}' }]);
  });
});
