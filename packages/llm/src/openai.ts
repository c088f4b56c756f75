import { z } from "zod";
import { nvextSchema } from "./nvext.js";
import {
  parseRequest,
  type RefinementIssue,
  type RequestProblem,
  refinement,
  type ValidationResult,
} from "./validation.js";
import { int32, UINT32_MAX, uint32 } from "./wire.js";

/** OpenAI's error body: `{ error: { message, type, param, code } }`. */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export function openAIError(
  message: string,
  opts: { type?: string; param?: string | null; code?: string | null } = {},
): OpenAIErrorBody {
  return {
    error: {
      message,
      type: opts.type ?? "invalid_request_error",
      param: opts.param ?? null,
      code: opts.code ?? null,
    },
  };
}

const textPart = z.object({ type: z.literal("text"), text: z.string() });

// Non-text parts (image_url, input_audio, file, ...) are kept whole; the chat template decides if the model takes them.
const contentPart = z
  .looseObject({ type: z.string(), text: z.string().optional() })
  .check(
    refinement((part) =>
      part.type === "text" && part.text === undefined
        ? { code: "invalid_type", expected: "string", input: undefined, path: ["text"] }
        : undefined,
    ),
  );

const textContent = z.union([z.string(), z.array(textPart)], { error: "expected a string or text parts" });
const anyContent = z.union([z.string(), z.array(contentPart)], {
  error: "expected a string or content parts",
});

const toolCallSchema = z.object({
  id: z.string(),
  type: z.literal("function"),
  function: z.object({ name: z.string(), arguments: z.string() }),
});

const messageSchema = z.discriminatedUnion("role", [
  z.object({ role: z.literal("system"), content: textContent, name: z.string().optional() }),
  z.object({ role: z.literal("developer"), content: textContent, name: z.string().optional() }),
  z.object({ role: z.literal("user"), content: anyContent, name: z.string().optional() }),
  z.object({
    role: z.literal("assistant"),
    content: textContent.nullish(),
    name: z.string().optional(),
    tool_calls: z.array(toolCallSchema).optional(),
    reasoning_content: z.string().nullish(),
  }),
  z.object({ role: z.literal("tool"), content: textContent, tool_call_id: z.string() }),
]);

const toolSchema = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().min(1),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullish(),
  }),
});

/** `response_format`: text, any JSON object, or JSON valid against a named schema (OpenAI's structured outputs). */
const responseFormatSchema = z.discriminatedUnion(
  "type",
  [
    z.object({ type: z.literal("text") }),
    z.object({ type: z.literal("json_object") }),
    z.object({
      type: z.literal("json_schema"),
      json_schema: z.object({
        name: z
          .string()
          .regex(/^[a-zA-Z0-9_-]{1,64}$/, { error: "expected 1 to 64 letters, digits, '_' or '-'" }),
        description: z.string().optional(),
        schema: z.record(z.string(), z.unknown()).optional(),
        strict: z.boolean().nullish(),
      }),
    }),
  ],
  { error: 'expected type "text", "json_object" or "json_schema"' },
);

const toolChoiceSchema = z.union(
  [
    z.enum(["none", "auto", "required"]),
    z.object({ type: z.literal("function"), function: z.object({ name: z.string() }) }),
  ],
  { error: 'expected "none", "auto", "required" or {"type": "function", "function": {"name": ...}}' },
);

const tokenId = uint32();

/** A token limit: OpenAI refuses values below `min` with its own code and wording. */
const tokenLimit = (min: number) =>
  uint32().check(
    refinement((value) =>
      value < min
        ? {
            code: "custom",
            message: `integer below minimum value. Expected a value >= ${min}, but got ${value} instead`,
            params: { code: "integer_below_min_value" },
          }
        : undefined,
    ),
  );

// Sampling and stopping fields common to chat completions and completions (OpenAI plus vLLM/Dynamo extensions).
const samplingFields = {
  model: z.string().min(1),
  max_tokens: tokenLimit(1).nullish(),
  temperature: z.number().min(0).max(2).nullish(),
  top_p: z.number().gt(0).max(1).nullish(),
  top_k: int32().min(-1).nullish(),
  min_p: z.number().min(0).max(1).nullish(),
  seed: z.int().nullish(),
  n: z.int().min(1).max(128).nullish(),
  stream: z.boolean().nullish(),
  stream_options: z
    .object({ include_usage: z.boolean().nullish(), continuous_usage_stats: z.boolean().nullish() })
    .nullish(),
  stop: z
    .union([z.string(), z.array(z.string())], { error: "expected a string or an array of strings" })
    .nullish(),
  stop_token_ids: z.array(tokenId).nullish(),
  ignore_eos: z.boolean().nullish(),
  min_tokens: uint32().nullish(),
  include_stop_str_in_output: z.boolean().nullish(),
  skip_special_tokens: z.boolean().nullish(),
  frequency_penalty: z.number().min(-2).max(2).nullish(),
  presence_penalty: z.number().min(-2).max(2).nullish(),
  repetition_penalty: z.number().gt(0).nullish(),
  logit_bias: z.record(z.string(), z.number()).nullish(),
  user: z.string().nullish(),
  nvext: nvextSchema.nullish(),
};

const requireStreamForOptions = refinement((req: { stream?: boolean | null; stream_options?: unknown }) =>
  req.stream_options != null && req.stream !== true
    ? {
        code: "custom",
        path: ["stream_options"],
        message: "only allowed when stream is true",
        params: { code: "invalid_value" },
      }
    : undefined,
);

export const chatCompletionRequestSchema = z
  .object({
    ...samplingFields,
    messages: z.array(messageSchema).min(1),
    max_completion_tokens: tokenLimit(1).nullish(),
    tools: z.array(toolSchema).min(1).nullish(),
    tool_choice: toolChoiceSchema.nullish(),
    parallel_tool_calls: z.boolean().nullish(),
    logprobs: z.boolean().nullish(),
    top_logprobs: z.int().min(0).max(20).nullish(),
    response_format: responseFormatSchema.nullish(),
    /** Extra chat-template variables, e.g. `{ "enable_thinking": false }`. */
    chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
  })
  .check(requireStreamForOptions)
  .check(refinement(chatConsistency));

/** The chat fields whose values must agree with each other. */
interface ChatConsistencyFields {
  logprobs?: boolean | null;
  top_logprobs?: number | null;
  tools?: readonly { function: { name: string } }[] | null;
  tool_choice?: string | { function: { name: string } } | null;
}

/** As OpenAI: top_logprobs needs logprobs, a tool_choice needs tools, and a named tool must be one of them. */
function chatConsistency(req: ChatConsistencyFields): RefinementIssue[] {
  const issues: RefinementIssue[] = [];
  const invalid = (field: string, message: string) =>
    issues.push({ code: "custom", path: [field], message, params: { code: "invalid_value" } });
  if ((req.top_logprobs ?? 0) > 0 && req.logprobs !== true) {
    invalid("top_logprobs", "'logprobs' must be set to true when 'top_logprobs' is used");
  }
  const choice = req.tool_choice;
  if (choice == null || choice === "none" || choice === "auto") return issues;
  const names = (req.tools ?? []).map((t) => t.function.name);
  if (names.length === 0) invalid("tool_choice", "'tool_choice' is only allowed when 'tools' are specified");
  else if (typeof choice === "object" && !names.includes(choice.function.name)) {
    invalid("tool_choice", `tool '${choice.function.name}' is not one of the 'tools'`);
  }
  return issues;
}

const isTokenId = (id: unknown): boolean =>
  typeof id === "number" && Number.isInteger(id) && id >= 0 && id <= UINT32_MAX;

// A prompt or a list of prompts (text or token ids); always a list after parsing, one entry per prompt.
const promptSchema = z
  .union(
    [
      z.string(),
      // Token ids checked in one pass first: zod's per-element checks cost ~1.8 ms on an 8,000-id prompt. A
      // prompt this refuses falls through to the branches below, which name the bad element.
      z.custom<number[]>((v) => Array.isArray(v) && v.length > 0 && v.every(isTokenId)),
      z.array(z.string()).min(1),
      z.array(tokenId).min(1),
      z.array(z.array(tokenId).min(1)).min(1),
    ],
    { error: "expected a string, an array of strings, an array of token ids or an array of token id arrays" },
  )
  .transform((prompt): (string | number[])[] => {
    if (typeof prompt === "string") return [prompt];
    if (typeof prompt[0] === "number") return [prompt as number[]];
    return prompt as (string | number[])[];
  });

export const completionRequestSchema = z
  .object({
    ...samplingFields,
    /** A text prompt or the prompt's token ids. */
    prompt: promptSchema,
    // OpenAI's legacy completions take max_tokens 0 (with echo: the prompt alone).
    max_tokens: tokenLimit(0).nullish(),
    echo: z.boolean().nullish(),
    logprobs: z.int().min(0).max(5).nullish(),
  })
  .check(requireStreamForOptions);

/** `/v1/embeddings`: text or token ids, one input or a list, as OpenAI takes them; a list after parsing. */
export const embeddingRequestSchema = z.object({
  model: z.string().min(1),
  input: z
    .union(
      [
        z.string(),
        z.array(z.string()).min(1),
        z.array(tokenId).min(1),
        z.array(z.array(tokenId).min(1)).min(1),
      ],
      {
        error: "expected a string, an array of strings, an array of token ids or an array of token id arrays",
      },
    )
    .transform((input): (string | number[])[] => {
      if (typeof input === "string") return [input];
      if (typeof input[0] === "number") return [input as number[]];
      return input as (string | number[])[];
    }),
  encoding_format: z.enum(["float", "base64"]).nullish(),
  dimensions: tokenLimit(1).nullish(),
  user: z.string().nullish(),
});

/** vLLM's `/tokenize`: a prompt, or chat messages rendered with the chat template. */
export const tokenizeRequestSchema = z.union(
  [
    z.object({
      model: z.string().min(1).nullish(),
      prompt: z.string(),
      add_special_tokens: z.boolean().default(true),
      return_token_strs: z.boolean().nullish(),
    }),
    z.object({
      model: z.string().min(1).nullish(),
      messages: z.array(messageSchema).min(1),
      add_generation_prompt: z.boolean().default(true),
      add_special_tokens: z.boolean().default(false),
      return_token_strs: z.boolean().nullish(),
      tools: z.array(toolSchema).nullish(),
      chat_template_kwargs: z.record(z.string(), z.unknown()).nullish(),
    }),
  ],
  { error: "expected 'prompt' or 'messages'" },
);

/** vLLM's `/detokenize`. */
export const detokenizeRequestSchema = z.object({
  model: z.string().min(1).nullish(),
  tokens: z.array(tokenId),
});

export type EmbeddingRequest = z.output<typeof embeddingRequestSchema>;
export type TokenizeRequest = z.output<typeof tokenizeRequestSchema>;
export type DetokenizeRequest = z.output<typeof detokenizeRequestSchema>;

export function validateEmbeddingRequest(body: unknown): ValidationResult<EmbeddingRequest, OpenAIErrorBody> {
  return toOpenAI(parseRequest(embeddingRequestSchema, body));
}

export function validateTokenizeRequest(body: unknown): ValidationResult<TokenizeRequest, OpenAIErrorBody> {
  return toOpenAI(parseRequest(tokenizeRequestSchema, body));
}

export function validateDetokenizeRequest(
  body: unknown,
): ValidationResult<DetokenizeRequest, OpenAIErrorBody> {
  return toOpenAI(parseRequest(detokenizeRequestSchema, body));
}

export type ChatCompletionRequest = z.output<typeof chatCompletionRequestSchema>;
export type ChatCompletionMessage = ChatCompletionRequest["messages"][number];
export type ChatCompletionTool = z.output<typeof toolSchema>;
export type ChatCompletionToolChoice = z.output<typeof toolChoiceSchema>;
export type ChatResponseFormat = z.output<typeof responseFormatSchema>;
export type CompletionRequest = z.output<typeof completionRequestSchema>;

export function validateChatCompletionRequest(
  body: unknown,
): ValidationResult<ChatCompletionRequest, OpenAIErrorBody> {
  return toOpenAI(parseRequest(chatCompletionRequestSchema, body));
}

export function validateCompletionRequest(
  body: unknown,
): ValidationResult<CompletionRequest, OpenAIErrorBody> {
  return toOpenAI(parseRequest(completionRequestSchema, body));
}

function toOpenAI<T>(result: ValidationResult<T, RequestProblem>): ValidationResult<T, OpenAIErrorBody> {
  if (result.ok) return result;
  const { param, kind, detail, code } = result.error;
  const name = param === null ? "the request body" : `'${param}'`;
  const messages = {
    missing: `Missing required parameter: ${name}.`,
    invalid_type: `Invalid type for ${name}: expected ${detail}.`,
    // OpenAI's wording for out-of-range integers: "Invalid 'max_tokens': integer below minimum value. ..."
    invalid_value:
      code === "integer_below_min_value"
        ? `Invalid ${name}: ${detail}.`
        : `Invalid value for ${name}: ${detail}.`,
  };
  const defaultCodes = {
    missing: "missing_required_parameter",
    invalid_type: "invalid_type",
    invalid_value: "invalid_value",
  };
  return { ok: false, error: openAIError(messages[kind], { param, code: code ?? defaultCodes[kind] }) };
}
