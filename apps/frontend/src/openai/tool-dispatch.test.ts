import type { ChatOutputParserOptions } from "@kvasir/llm";
import { describe, expect, it } from "vitest";
import type { TextStep } from "../text-generation.js";
import { chatFormat } from "./chat.js";

const header = { id: "chatcmpl-1", created: 0, model: "m" };
const usage = { promptTokens: 3, completionTokens: 0, cachedTokens: 0 };
const step = (text: string, last = false): TextStep => ({
  text,
  tokenCount: 1,
  tokenIds: [1],
  usage,
  ...(last ? { finishReason: "stop" as const } : {}),
});

/** The tool-call names in each step's chunks, step by step. */
function callsPerStep(
  parsers: Pick<ChatOutputParserOptions, "toolCallParser" | "streamingToolDispatch">,
): string[][] {
  const format = chatFormat(header, parsers, "", false);
  const steps = [
    step('<tool_call>{"name": "get_time", "arguments": {}}</tool_call>'),
    step(" then "),
    step('<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>'),
    step("", true),
  ];
  return steps.map((s) => format.step(s).flatMap(toolNames));
}

// Content-only chunks are pre-rendered frames; tool calls come in chunk objects.
function toolNames(chunk: unknown): string[] {
  if (typeof chunk !== "object" || chunk === null || !("choices" in chunk) || !Array.isArray(chunk.choices))
    return [];
  const choices: { delta?: { tool_calls?: { function: { name: string } }[] } }[] = chunk.choices;
  return choices.flatMap((c) => (c.delta?.tool_calls ?? []).map((call) => call.function.name));
}

describe("streaming tool dispatch in chat completions", () => {
  it("sends each tool call in the chunk of the step that completed it", () => {
    expect(callsPerStep({ toolCallParser: "hermes", streamingToolDispatch: true })).toEqual([
      ["get_time"],
      [],
      ["get_weather"],
      [],
    ]);
  });

  it("sends them all with the last chunk without it (Dynamo's default)", () => {
    expect(callsPerStep({ toolCallParser: "hermes" })).toEqual([[], [], [], ["get_time", "get_weather"]]);
  });
});
