// OpenAI's Responses API request (`POST /v1/responses`). Shapes from the `openai` npm package's
// `ResponseCreateParamsBase` and `ResponseInputItem` types; the fields a text model can serve are validated, the
// rest of OpenAI's (include, truncation, service_tier, ...) are accepted and ignored like any unknown field.
import { z } from "zod";
import { nvextSchema } from "./nvext.js";
import type { OpenAIErrorBody } from "./openai.js";
import { parseRequest, type RequestProblem, type ValidationResult } from "./validation.js";
import { uint32 } from "./wire.js";

const inputText = z.object({ type: z.literal("input_text"), text: z.string() });
const outputText = z.object({ type: z.literal("output_text"), text: z.string() });
const refusal = z.object({ type: z.literal("refusal"), refusal: z.string() });
// Images, files and audio pass validation as "unsupported", for the conversion to refuse naming the part.
const otherPart = z
  .looseObject({ type: z.string().refine((t) => !["input_text", "output_text", "refusal"].includes(t)) })
  .transform((part) => ({ type: "unsupported" as const, part_type: part.type }));
const contentPart = z.union([inputText, outputText, refusal, otherPart]);

const message = z.object({
  type: z.literal("message"),
  role: z.enum(["user", "assistant", "system", "developer"]),
  content: z.union([z.string(), z.array(contentPart)], {
    error: "expected a string or an array of content parts",
  }),
  id: z.string().nullish(),
  status: z.string().nullish(),
});

const functionCall = z.object({
  type: z.literal("function_call"),
  call_id: z.string(),
  name: z.string(),
  arguments: z.string(),
  id: z.string().nullish(),
  status: z.string().nullish(),
});

const functionCallOutput = z.object({
  type: z.literal("function_call_output"),
  call_id: z.string(),
  output: z.union([z.string(), z.array(contentPart)], {
    error: "expected a string or an array of content parts",
  }),
  id: z.string().nullish(),
  status: z.string().nullish(),
});

const reasoning = z.object({
  type: z.literal("reasoning"),
  id: z.string().nullish(),
  summary: z.array(z.object({ type: z.literal("summary_text"), text: z.string() })).default([]),
  content: z.array(z.object({ type: z.literal("reasoning_text"), text: z.string() })).nullish(),
  encrypted_content: z.string().nullish(),
  status: z.string().nullish(),
});

const knownItem = z.discriminatedUnion("type", [message, functionCall, functionCallOutput, reasoning]);
const KNOWN_TYPES = new Set(["message", "function_call", "function_call_output", "reasoning"]);

// An item with a role and no type is an easy input message (`{role: "user", content: "Hi"}`).
const inputItem = z.preprocess(
  (item) =>
    typeof item === "object" && item !== null && !("type" in item) && "role" in item
      ? { ...item, type: "message" }
      : item,
  z.union([
    knownItem,
    // Other item types (web_search_call, computer_call, item_reference, ...) pass validation to be refused by name.
    z
      .looseObject({ type: z.string().refine((t) => !KNOWN_TYPES.has(t)) })
      .transform((item) => ({ type: "unsupported" as const, item_type: item.type })),
  ]),
);

const functionTool = z.object({
  type: z.literal("function"),
  name: z.string().min(1),
  description: z.string().nullish(),
  parameters: z.record(z.string(), z.unknown()).nullish(),
  strict: z.boolean().nullish(),
});

// Hosted tools (web_search, file_search, ...) pass validation as "unsupported", to be refused by name.
const tool = z.union([
  functionTool,
  z
    .looseObject({ type: z.string().refine((t) => t !== "function") })
    .transform((t) => ({ type: "unsupported" as const, tool_type: t.type })),
]);

const toolChoice = z.union(
  [z.enum(["none", "auto", "required"]), z.object({ type: z.literal("function"), name: z.string() })],
  { error: 'expected "none", "auto", "required" or {"type": "function", "name": ...}' },
);

const textFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    name: z.string(),
    schema: z.record(z.string(), z.unknown()),
    description: z.string().nullish(),
    strict: z.boolean().nullish(),
  }),
]);

export const responsesRequestSchema = z.object({
  model: z.string().min(1),
  input: z.union([z.string(), z.array(inputItem)], { error: "expected a string or an array of input items" }),
  instructions: z.string().nullish(),
  max_output_tokens: uint32().min(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  tools: z.array(tool).nullish(),
  tool_choice: toolChoice.nullish(),
  parallel_tool_calls: z.boolean().nullish(),
  previous_response_id: z.string().min(1).nullish(),
  store: z.boolean().nullish(),
  stream: z.boolean().nullish(),
  metadata: z.record(z.string(), z.string()).nullish(),
  reasoning: z
    .object({ effort: z.enum(["none", "minimal", "low", "medium", "high", "xhigh"]).nullish() })
    .nullish(),
  text: z.object({ format: textFormat.nullish() }).nullish(),
  user: z.string().nullish(),
  // vLLM/Dynamo extensions, as on chat completions.
  ignore_eos: z.boolean().nullish(),
  nvext: nvextSchema.nullish(),
});

export type ResponsesRequest = z.output<typeof responsesRequestSchema>;
export type ResponsesInputItem = Exclude<ResponsesRequest["input"], string>[number];
export type ResponsesKnownItem = z.output<typeof knownItem>;
export type ResponsesTool = NonNullable<ResponsesRequest["tools"]>[number];
export type ResponsesToolChoice = NonNullable<ResponsesRequest["tool_choice"]>;

export function validateResponsesRequest(body: unknown): ValidationResult<ResponsesRequest, OpenAIErrorBody> {
  const result = parseRequest(responsesRequestSchema, body);
  if (result.ok) return result;
  return { ok: false, error: toOpenAIError(result.error) };
}

// Worded as OpenAI words its 400s (and as the chat completions validation does).
function toOpenAIError({ param, kind, detail, code }: RequestProblem): OpenAIErrorBody {
  const name = param === null ? "the request body" : `'${param}'`;
  const message =
    kind === "missing"
      ? `Missing required parameter: ${name}.`
      : kind === "invalid_type"
        ? `Invalid type for ${name}: expected ${detail}.`
        : `Invalid value for ${name}: ${detail}.`;
  const defaultCode =
    kind === "missing"
      ? "missing_required_parameter"
      : kind === "invalid_type"
        ? "invalid_type"
        : "invalid_value";
  return {
    error: { message, type: "invalid_request_error", param, code: code ?? defaultCode },
  };
}
