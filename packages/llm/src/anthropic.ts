import { z } from "zod";
import { nvextSchema } from "./nvext.js";
import { parseRequest, type RequestProblem, type ValidationResult } from "./validation.js";
import { int32, uint32 } from "./wire.js";

/** Anthropic's error body: `{ type: "error", error: { type, message } }`. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: string; message: string };
}

export function anthropicError(message: string, type = "invalid_request_error"): AnthropicErrorBody {
  return { type: "error", error: { type, message } };
}

const cacheControl = z.object({ type: z.literal("ephemeral"), ttl: z.string().optional() }).optional();

const textBlock = z.object({ type: z.literal("text"), text: z.string(), cache_control: cacheControl });
const imageBlock = z.object({
  type: z.literal("image"),
  source: z.looseObject({ type: z.string() }),
  cache_control: cacheControl,
});

const contentBlock = z.discriminatedUnion("type", [
  textBlock,
  imageBlock,
  z.object({
    type: z.literal("document"),
    source: z.looseObject({ type: z.string() }),
    cache_control: cacheControl,
  }),
  z.object({
    type: z.literal("tool_use"),
    id: z.string(),
    name: z.string(),
    input: z.record(z.string(), z.unknown()),
    cache_control: cacheControl,
  }),
  z.object({
    type: z.literal("tool_result"),
    tool_use_id: z.string(),
    content: z.union([z.string(), z.array(z.discriminatedUnion("type", [textBlock, imageBlock]))]).optional(),
    is_error: z.boolean().optional(),
    cache_control: cacheControl,
  }),
  z.object({ type: z.literal("thinking"), thinking: z.string(), signature: z.string().optional() }),
  z.object({ type: z.literal("redacted_thinking"), data: z.string() }),
]);

const messageSchema = z.object({
  role: z.enum(["user", "assistant"]),
  content: z.union([z.string(), z.array(contentBlock)], {
    error: "expected a string or an array of content blocks",
  }),
});

const toolSchema = z.object({
  name: z.string().min(1),
  description: z.string().optional(),
  input_schema: z.looseObject({ type: z.string() }),
  cache_control: cacheControl,
});

const toolChoiceSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("auto"), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal("any"), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal("tool"), name: z.string(), disable_parallel_tool_use: z.boolean().optional() }),
  z.object({ type: z.literal("none") }),
]);

const thinkingSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("enabled"), budget_tokens: uint32().min(1024) }),
  z.object({ type: z.literal("disabled") }),
]);

/** Anthropic Messages API request (`POST /v1/messages`). */
export const messagesRequestSchema = z.object({
  model: z.string().min(1),
  max_tokens: uint32().min(1),
  messages: z.array(messageSchema).min(1),
  system: z.union([z.string(), z.array(textBlock)], { error: "expected a string or text blocks" }).optional(),
  stop_sequences: z.array(z.string()).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().gt(0).max(1).optional(),
  top_k: int32().min(0).optional(),
  stream: z.boolean().optional(),
  tools: z.array(toolSchema).optional(),
  tool_choice: toolChoiceSchema.optional(),
  thinking: thinkingSchema.optional(),
  metadata: z.object({ user_id: z.string().nullish() }).optional(),
  nvext: nvextSchema.optional(),
});

export type MessagesRequest = z.output<typeof messagesRequestSchema>;

/** `POST /v1/messages/count_tokens`: a Messages request without the generation fields (`max_tokens` optional). */
export const countTokensRequestSchema = messagesRequestSchema.extend({
  max_tokens: uint32().min(1).optional(),
});

export type CountTokensRequest = z.output<typeof countTokensRequestSchema>;
export type AnthropicMessage = MessagesRequest["messages"][number];
export type AnthropicContentBlock = z.output<typeof contentBlock>;
export type AnthropicTool = z.output<typeof toolSchema>;
export type AnthropicToolChoice = z.output<typeof toolChoiceSchema>;

/** Validates a Messages request; errors name the field the way Anthropic does (`messages.0.content: ...`). */
export function validateMessagesRequest(
  body: unknown,
): ValidationResult<MessagesRequest, AnthropicErrorBody> {
  return toAnthropic(parseRequest(messagesRequestSchema, body));
}

/** Validates a count_tokens request, with the same error wording as a Messages request. */
export function validateCountTokensRequest(
  body: unknown,
): ValidationResult<CountTokensRequest, AnthropicErrorBody> {
  return toAnthropic(parseRequest(countTokensRequestSchema, body));
}

function toAnthropic<T>(
  result: ValidationResult<T, RequestProblem>,
): ValidationResult<T, AnthropicErrorBody> {
  if (result.ok) return result;
  const { path, kind, detail } = result.error;
  const where = path.length === 0 ? "body" : path.map(String).join(".");
  const what =
    kind === "missing" ? "Field required" : kind === "invalid_type" ? `Input should be ${detail}` : detail;
  return { ok: false, error: anthropicError(`${where}: ${what}`) };
}

/** The first line of Claude Code's system prompt: a per-session billing header that varies at token zero. */
const BILLING_HEADER = "x-anthropic-billing-header:";

/**
 * `--strip-anthropic-preamble`: the system prompt without Claude Code's billing header line, so sessions share a
 * prompt prefix (and its KV cache). As Dynamo's frontend: the line is dropped only when the system prompt starts
 * with it; Claude Code sends it as a text block of its own, which is dropped whole.
 */
export function stripBillingPreamble(system: MessagesRequest["system"]): MessagesRequest["system"] {
  if (system === undefined) return system;
  const stripLine = (text: string): string | undefined => {
    const trimmed = text.trimStart();
    if (!trimmed.startsWith(BILLING_HEADER)) return text;
    const newline = trimmed.indexOf("\n");
    return newline < 0 ? undefined : trimmed.slice(newline + 1);
  };
  if (typeof system === "string") return stripLine(system) ?? "";
  const [first, ...rest] = system;
  if (!first) return system;
  const kept = stripLine(first.text);
  return kept === undefined ? rest : [{ ...first, text: kept }, ...rest];
}

/** OpenAI-style tool fields, as the chat template and the engine's tool-choice constraint take them. */
export interface ChatToolFields {
  tools?: {
    type: "function";
    function: { name: string; description?: string; parameters: Record<string, unknown> };
  }[];
  tool_choice?: "none" | "auto" | "required" | { type: "function"; function: { name: string } };
  parallel_tool_calls?: boolean;
}

/**
 * Anthropic's `tools` and `tool_choice` in OpenAI's terms: `any` is `required`, `tool` is a named function,
 * `disable_parallel_tool_use` is `parallel_tool_calls: false`, and `none` leaves the tools out of the prompt (the
 * model is not told of tools it may not call). A problem is returned as Anthropic's error message.
 */
export function toChatToolFields(
  request: Pick<MessagesRequest, "tools" | "tool_choice">,
): ValidationResult<ChatToolFields, string> {
  const choice = request.tool_choice;
  const tools = request.tools ?? [];
  if (choice?.type === "none") return { ok: true, value: { tool_choice: "none" } };
  const fields: ChatToolFields = {};
  if (tools.length > 0) {
    fields.tools = tools.map((t) => ({
      type: "function",
      function: {
        name: t.name,
        ...(t.description !== undefined ? { description: t.description } : {}),
        parameters: t.input_schema,
      },
    }));
  }
  if (!choice) return { ok: true, value: fields };
  if (choice.type !== "auto" && tools.length === 0) {
    return { ok: false, error: `tool_choice: '${choice.type}' needs at least one tool in 'tools'` };
  }
  if (choice.type === "tool" && !tools.some((t) => t.name === choice.name)) {
    return { ok: false, error: `tool_choice.name: no tool named '${choice.name}' in 'tools'` };
  }
  fields.tool_choice =
    choice.type === "auto"
      ? "auto"
      : choice.type === "any"
        ? "required"
        : { type: "function", function: { name: choice.name } };
  if (choice.disable_parallel_tool_use) fields.parallel_tool_calls = false;
  return { ok: true, value: fields };
}
