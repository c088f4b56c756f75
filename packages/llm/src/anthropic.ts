import { z } from "zod";
import { nvextSchema } from "./nvext.js";
import { parseRequest, type ValidationResult } from "./validation.js";
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
export type AnthropicMessage = MessagesRequest["messages"][number];
export type AnthropicContentBlock = z.output<typeof contentBlock>;
export type AnthropicTool = z.output<typeof toolSchema>;
export type AnthropicToolChoice = z.output<typeof toolChoiceSchema>;

/** Validates a Messages request; errors name the field the way Anthropic does (`messages.0.content: ...`). */
export function validateMessagesRequest(
  body: unknown,
): ValidationResult<MessagesRequest, AnthropicErrorBody> {
  const result = parseRequest(messagesRequestSchema, body);
  if (result.ok) return result;
  const { path, kind, detail } = result.error;
  const where = path.length === 0 ? "body" : path.map(String).join(".");
  const what =
    kind === "missing" ? "Field required" : kind === "invalid_type" ? `Input should be ${detail}` : detail;
  return { ok: false, error: anthropicError(`${where}: ${what}`) };
}
