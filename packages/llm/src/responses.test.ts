import { describe, expect, it } from "vitest";
import { validateResponsesRequest } from "./responses.js";

const base = { model: "Qwen/Qwen3-0.6B" };

function problem(body: unknown) {
  const result = validateResponsesRequest(body);
  if (result.ok) throw new Error("expected a validation error");
  expect(result.error.error.type).toBe("invalid_request_error");
  return result.error.error;
}

describe("Responses API requests", () => {
  it("accepts a string input, and easy messages without a type", () => {
    expect(validateResponsesRequest({ ...base, input: "Hi" }).ok).toBe(true);
    const result = validateResponsesRequest({
      ...base,
      input: [{ role: "developer", content: "Be brief." }],
    });
    expect(result.ok && result.value.input).toEqual([
      { type: "message", role: "developer", content: "Be brief." },
    ]);
  });

  it("keeps function calls, their outputs and reasoning items, and marks other items unsupported", () => {
    const result = validateResponsesRequest({
      ...base,
      input: [
        { type: "reasoning", summary: [{ type: "summary_text", text: "think" }] },
        { type: "function_call", call_id: "c1", name: "f", arguments: "{}" },
        { type: "function_call_output", call_id: "c1", output: "ok" },
        { type: "item_reference", id: "x" },
        { role: "user", content: [{ type: "input_image", image_url: "data:" }] },
      ],
    });
    if (!result.ok) throw new Error(result.error.error.message);
    const input = result.value.input;
    expect(Array.isArray(input) && input.map((item) => item.type)).toEqual([
      "reasoning",
      "function_call",
      "function_call_output",
      "unsupported",
      "message",
    ]);
    const image = Array.isArray(input) ? input[4] : undefined;
    expect(image?.type === "message" && image.content).toEqual([
      { type: "unsupported", part_type: "input_image" },
    ]);
  });

  it("marks hosted tools unsupported, and refuses invalid known fields in OpenAI's words", () => {
    const tools = validateResponsesRequest({ ...base, input: "x", tools: [{ type: "web_search" }] });
    expect(tools.ok && tools.value.tools).toEqual([{ type: "unsupported", tool_type: "web_search" }]);
    expect(problem({ ...base, input: "x", temperature: 3 })).toMatchObject({
      param: "temperature",
      code: "invalid_value",
    });
    expect(problem({ model: "m" })).toMatchObject({ param: "input", code: "missing_required_parameter" });
    expect(problem({ ...base, input: "x", tool_choice: "sometimes" }).param).toBe("tool_choice");
    expect(problem({ ...base, input: [{ type: "function_call", name: "f" }] }).param).toMatch(/^input\[0\]/);
  });
});
