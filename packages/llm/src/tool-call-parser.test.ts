import { describe, expect, it } from "vitest";
import { type ToolCall, ToolCallParser } from "./tool-call-parser.js";

function ids(): () => string {
  let n = 0;
  return () => `call_${n++}`;
}

function parseAll(chunks: string[]): { content: string; toolCalls: ToolCall[] } {
  const parser = new ToolCallParser({ newId: ids() });
  const deltas = [...chunks.map((c) => parser.push(c)), parser.flush()];
  return { content: deltas.map((d) => d.content).join(""), toolCalls: deltas.flatMap((d) => d.toolCalls) };
}

const qwenOutput =
  'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n' +
  '<tool_call>\n{"name": "get_time", "arguments": {"tz": "CET"}}\n</tool_call>';

const expectedCalls: ToolCall[] = [
  {
    index: 0,
    id: "call_0",
    type: "function",
    function: { name: "get_weather", arguments: '{"city":"Paris"}' },
  },
  { index: 1, id: "call_1", type: "function", function: { name: "get_time", arguments: '{"tz":"CET"}' } },
];

describe("ToolCallParser", () => {
  it("extracts Qwen3 tool calls whatever the chunking", () => {
    for (let i = 0; i <= qwenOutput.length; i++) {
      const result = parseAll([qwenOutput.slice(0, i), qwenOutput.slice(i)]);
      expect(result, `split at ${i}`).toEqual({ content: "Let me check.\n", toolCalls: expectedCalls });
    }
  });

  it("streams content and holds only a possible start tag", () => {
    const parser = new ToolCallParser({ newId: ids() });
    expect(parser.push("Hi <tool").content).toBe("Hi ");
    expect(parser.push("box> there").content).toBe("<toolbox> there");
    expect(parser.toolCallCount).toBe(0);
  });

  it("emits a call once its end tag arrives", () => {
    const parser = new ToolCallParser({ newId: ids() });
    expect(parser.push('<tool_call>{"name": "f", "argu')).toEqual({ content: "", toolCalls: [] });
    expect(parser.push('ments": {}}</tool_call>').toolCalls).toEqual([
      { index: 0, id: "call_0", type: "function", function: { name: "f", arguments: "{}" } },
    ]);
    expect(parser.toolCallCount).toBe(1);
  });

  it("passes malformed calls through as content", () => {
    expect(parseAll(["a<tool_call>{not json}</tool_call>b"])).toEqual({
      content: "a<tool_call>{not json}</tool_call>b",
      toolCalls: [],
    });
    expect(parseAll(['<tool_call>{"arguments": {}}</tool_call>']).toolCalls).toEqual([]);
  });

  it("accepts string arguments and a parameters key", () => {
    const { toolCalls } = parseAll([
      '<tool_call>{"name": "a", "arguments": "{\\"x\\":1}"}</tool_call><tool_call>{"name": "b", "parameters": {"y": 2}}</tool_call>',
    ]);
    expect(toolCalls.map((c) => c.function)).toEqual([
      { name: "a", arguments: '{"x":1}' },
      { name: "b", arguments: '{"y":2}' },
    ]);
  });

  it("parses a complete call left unterminated at the end of output", () => {
    expect(parseAll(['<tool_call>\n{"name": "f", "arguments": {"k": 1}}\n']).toolCalls).toEqual([
      { index: 0, id: "call_0", type: "function", function: { name: "f", arguments: '{"k":1}' } },
    ]);
    expect(parseAll(['<tool_call>{"name": "f"'])).toEqual({
      content: '<tool_call>{"name": "f"',
      toolCalls: [],
    });
  });

  it("keeps text after a call but drops whitespace between calls", () => {
    const call = '<tool_call>{"name": "f", "arguments": {}}</tool_call>';
    expect(parseAll([call, "\n", " done"]).content).toBe("\n done");
    expect(parseAll([call, "\n\n"]).content).toBe("");
  });

  it("generates OpenAI-style ids by default", () => {
    const parser = new ToolCallParser();
    const [call] = parser.push('<tool_call>{"name": "f", "arguments": {}}</tool_call>').toolCalls;
    expect(call?.id).toMatch(/^call_[0-9a-f]{24}$/);
  });
});
