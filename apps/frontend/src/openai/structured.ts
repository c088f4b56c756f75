// Structured output as vLLM does it: `response_format` and a forced `tool_choice` become one guided-decoding
// constraint (vLLM's structured_outputs) that the engine honours, and a forced tool choice's output (JSON in the
// constraint's shape, not the model's own tool-call syntax) is read back as tool calls here.
// The tool-choice schema follows vLLM's tool_parsers/utils.py: for "required", an array of at least one
// {name, parameters} object, one alternative per tool; for a named function, that function's parameters.
import type { ChatCompletionRequest, ChatCompletionTool, ToolCall } from "@kvasir/llm";
import type { StructuredOutputs } from "@kvasir/serving";
import { Ajv } from "ajv";
import { HttpError } from "../errors.js";

/** OpenAI-style tool-call ids: `call_` and 24 hex digits. */
export const toolCallId = (): string => `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;

/** A tool choice that forces a call: any tool ("required", Anthropic's "any") or one named tool. */
export type ForcedToolChoice = { type: "required" } | { type: "named"; name: string };

type Schema = Record<string, unknown>;

const EMPTY_PARAMETERS: Schema = { type: "object", properties: {} };

/** OpenAI's 400 for a schema that is not a valid JSON schema. */
function invalidSchema(param: string, detail: string): HttpError {
  return new HttpError(400, `Invalid schema for ${param}: ${detail}`, "invalid_json_schema", param);
}

// One compiler for every check; `strict: false` accepts the vocabulary clients really send (formats, titles).
const ajv = new Ajv({ strict: false, validateFormats: false });

/** Refuses a schema that does not compile (unknown types, malformed keywords), naming `param`. */
export function checkSchema(schema: Schema, param: string): void {
  try {
    ajv.compile(schema);
  } catch (error) {
    throw invalidSchema(param, error instanceof Error ? error.message : String(error));
  }
}

/** The constraint a chat request's `response_format` asks for; undefined for text. */
export function responseFormatConstraint(
  format: ChatCompletionRequest["response_format"],
): StructuredOutputs | undefined {
  if (!format || format.type === "text") return undefined;
  if (format.type === "json_object") return { jsonObject: true };
  const schema = format.json_schema.schema ?? { type: "object" };
  checkSchema(schema, "response_format");
  return { json: schema };
}

/** The guided-decoding schema of a forced tool choice, over `tools` (each tool's parameters checked). */
export function toolChoiceConstraint(
  tools: readonly ChatCompletionTool[],
  choice: ForcedToolChoice,
  parallel = true,
): StructuredOutputs {
  tools.forEach((tool, i) => {
    if (tool.function.parameters) checkSchema(tool.function.parameters, `tools[${i}].function.parameters`);
  });
  if (choice.type === "named") {
    const tool = tools.find((t) => t.function.name === choice.name);
    return { json: tool?.function.parameters ?? EMPTY_PARAMETERS };
  }
  const alternatives = tools.map((tool) => ({
    properties: {
      name: { type: "string", enum: [tool.function.name] },
      parameters: tool.function.parameters ?? EMPTY_PARAMETERS,
    },
    required: ["name", "parameters"],
  }));
  return {
    json: {
      type: "array",
      minItems: 1,
      ...(parallel ? {} : { maxItems: 1 }),
      items: { type: "object", anyOf: alternatives },
    },
  };
}

/** The forced tool choice of an OpenAI `tool_choice`, if it forces one. */
export function forcedToolChoice(choice: ChatCompletionRequest["tool_choice"]): ForcedToolChoice | undefined {
  if (choice === "required") return { type: "required" };
  if (choice && typeof choice === "object") return { type: "named", name: choice.function.name };
  return undefined;
}

/**
 * The tool calls a forced choice's output holds: for "required" the array of {name, parameters}, for a named tool
 * its arguments. Output that is not complete JSON (cut off by max_tokens) yields no calls, and is returned as text.
 */
export function parseForcedToolCalls(
  text: string,
  choice: ForcedToolChoice,
  id: (index: number) => string,
): ToolCall[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  const call = (index: number, name: string, args: unknown): ToolCall => ({
    index,
    id: id(index),
    type: "function",
    function: { name, arguments: JSON.stringify(args ?? {}) },
  });
  if (choice.type === "named") return [call(0, choice.name, value)];
  if (!Array.isArray(value)) return [];
  return value.flatMap((item, index) =>
    typeof item === "object" && item !== null && "name" in item && typeof item.name === "string"
      ? [call(index, item.name, "parameters" in item ? item.parameters : {})]
      : [],
  );
}
