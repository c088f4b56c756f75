import { describe, expect, it } from "vitest";
import { HttpError } from "../errors.js";
import {
  checkSchema,
  forcedToolChoice,
  parseForcedToolCalls,
  responseFormatConstraint,
  toolChoiceConstraint,
} from "./structured.js";

const tool = (name: string, parameters?: Record<string, unknown>) => ({
  type: "function" as const,
  function: { name, ...(parameters ? { parameters } : {}) },
});
const ids = (i: number) => `call_${i}`;

describe("structured output constraints", () => {
  it("turns tool_choice required into vLLM's array-of-calls schema, and a named tool into its parameters", () => {
    const params = { type: "object", properties: { city: { type: "string" } } };
    const required = toolChoiceConstraint([tool("a", params), tool("b")], { type: "required" });
    expect(required).toEqual({
      json: {
        type: "array",
        minItems: 1,
        items: {
          type: "object",
          anyOf: [
            {
              properties: { name: { type: "string", enum: ["a"] }, parameters: params },
              required: ["name", "parameters"],
            },
            {
              properties: {
                name: { type: "string", enum: ["b"] },
                parameters: { type: "object", properties: {} },
              },
              required: ["name", "parameters"],
            },
          ],
        },
      },
    });
    const single = toolChoiceConstraint([tool("a", params)], { type: "required" }, false);
    expect("json" in single && single.json.maxItems).toBe(1);
    expect(toolChoiceConstraint([tool("a", params)], { type: "named", name: "a" })).toEqual({ json: params });
  });

  it("maps response_format and refuses schemas that do not compile with OpenAI's 400", () => {
    expect(responseFormatConstraint({ type: "text" })).toBeUndefined();
    expect(responseFormatConstraint({ type: "json_object" })).toEqual({ jsonObject: true });
    const schema = { type: "object" };
    expect(responseFormatConstraint({ type: "json_schema", json_schema: { name: "x", schema } })).toEqual({
      json: schema,
    });
    const bad = () => checkSchema({ type: "strin" }, "response_format");
    expect(bad).toThrow(HttpError);
    try {
      bad();
    } catch (error) {
      expect(error instanceof HttpError && error.toBody().error).toMatchObject({
        param: "response_format",
        code: "invalid_json_schema",
      });
    }
  });

  it("reads a forced choice's JSON back as tool calls, and leaves cut-off output as text", () => {
    expect(forcedToolChoice("required")).toEqual({ type: "required" });
    expect(forcedToolChoice({ type: "function", function: { name: "f" } })).toEqual({
      type: "named",
      name: "f",
    });
    expect(forcedToolChoice("auto")).toBeUndefined();
    const calls = parseForcedToolCalls(
      '[{"name":"a","parameters":{"x":1}},{"name":"b","parameters":{}}]',
      { type: "required" },
      ids,
    );
    expect(calls.map((c) => [c.index, c.id, c.function.name, c.function.arguments])).toEqual([
      [0, "call_0", "a", '{"x":1}'],
      [1, "call_1", "b", "{}"],
    ]);
    expect(parseForcedToolCalls('{"city":"Oslo"}', { type: "named", name: "w" }, ids)[0]?.function).toEqual({
      name: "w",
      arguments: '{"city":"Oslo"}',
    });
    expect(parseForcedToolCalls('[{"name":"a","param', { type: "required" }, ids)).toEqual([]);
  });
});
