import { type ResponsesRequest, validateResponsesRequest } from "@kvasir/llm";
import { describe, expect, it } from "vitest";
import { HttpError } from "../errors.js";
import { chatFields, inputMessages } from "./responses-input.js";

function request(body: Record<string, unknown>): ResponsesRequest {
  const result = validateResponsesRequest({ model: "m", input: "x", ...body });
  if (!result.ok) throw new Error(result.error.error.message);
  return result.value;
}

const weather = { type: "function", name: "get_weather", parameters: { type: "object" } };

describe("inputMessages", () => {
  it("turns a string into a user message", () => {
    expect(inputMessages("Hi")).toEqual([{ role: "user", content: "Hi" }]);
  });

  it("joins reasoning and consecutive function calls into one assistant turn, outputs as tool messages", () => {
    const { input } = request({
      input: [
        { role: "developer", content: [{ type: "input_text", text: "Be brief." }] },
        { role: "user", content: "Weather in Oslo and Rome?" },
        { type: "reasoning", summary: [], content: [{ type: "reasoning_text", text: "two calls" }] },
        { type: "function_call", call_id: "c1", name: "get_weather", arguments: '{"city":"Oslo"}' },
        { type: "function_call", call_id: "c2", name: "get_weather", arguments: '{"city":"Rome"}' },
        { type: "function_call_output", call_id: "c1", output: "Sunny" },
        { type: "function_call_output", call_id: "c2", output: [{ type: "input_text", text: "Rain" }] },
        { role: "assistant", content: [{ type: "output_text", text: "Oslo sunny, Rome rain." }] },
      ],
    });
    expect(inputMessages(input)).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "Weather in Oslo and Rome?" },
      {
        role: "assistant",
        content: "",
        reasoning_content: "two calls",
        tool_calls: [
          { id: "c1", type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } },
          { id: "c2", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: "tool", tool_call_id: "c1", content: "Sunny" },
      { role: "tool", tool_call_id: "c2", content: "Rain" },
      { role: "assistant", content: "Oslo sunny, Rome rain." },
    ]);
  });

  it("refuses items and content parts a text model cannot take, naming them", () => {
    const image = request({ input: [{ role: "user", content: [{ type: "input_image", image_url: "x" }] }] });
    expect(() => inputMessages(image.input)).toThrow(/input_image/);
    const reference = request({ input: [{ type: "item_reference", id: "x" }] });
    try {
      inputMessages(reference.input);
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(HttpError);
      expect(error instanceof HttpError && error.param).toBe("input[0]");
    }
  });
});

describe("chatFields", () => {
  it("gives function tools in chat's shape, and the forced choices as chat's", () => {
    expect(chatFields(request({ tools: [weather], tool_choice: "required" }))).toEqual({
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }],
      tool_choice: "required",
    });
    const named = chatFields(
      request({ tools: [weather], tool_choice: { type: "function", name: "get_weather" } }),
    );
    expect(named.tool_choice).toEqual({ type: "function", function: { name: "get_weather" } });
  });

  it("leaves tools out of the prompt under none", () => {
    expect(chatFields(request({ tools: [weather], tool_choice: "none" }))).toEqual({ tool_choice: "none" });
  });

  it("maps text.format to response_format", () => {
    const format = { type: "json_schema", name: "city", schema: { type: "object" }, strict: true };
    expect(chatFields(request({ text: { format } })).response_format).toEqual({
      type: "json_schema",
      json_schema: { name: "city", schema: { type: "object" }, strict: true },
    });
    expect(chatFields(request({ text: { format: { type: "json_object" } } })).response_format).toEqual({
      type: "json_object",
    });
  });

  it("refuses hosted tools, a forced choice without tools and a choice of a missing function", () => {
    expect(() => chatFields(request({ tools: [{ type: "file_search" }] }))).toThrow(/file_search/);
    expect(() => chatFields(request({ tool_choice: "required" }))).toThrow(/at least one function tool/);
    expect(() =>
      chatFields(request({ tools: [weather], tool_choice: { type: "function", name: "nope" } })),
    ).toThrow(/No function named 'nope'/);
  });
});
