import {
  ChatOutputParser,
  type ChatOutputParserOptions,
  type ChatTemplateMessage,
  type CountTokensRequest,
  type MessagesRequest,
  promptOpensReasoning,
  stripBillingPreamble,
  type ToolCall,
  toChatToolFields,
  validateCountTokensRequest,
  validateMessagesRequest,
} from "@kvasir/llm";
import type { EngineUsage } from "@kvasir/serving";
import { badRequest, HttpError } from "../errors.js";
import type { ServedModel } from "../model-registry.js";
import { ForcedToolOutput } from "../openai/forced-tool-output.js";
import type { OutputFormat } from "../openai/generation.js";
import { type PreparedRequest, prepare } from "../openai/prepare.js";
import type { ResponseHeader } from "../openai/responses.js";
import { type ForcedToolChoice, forcedToolChoice, toolChoiceConstraint } from "../openai/structured.js";
import { type Preprocessor, tokenizeChat, tokenizeText } from "../preprocessor.js";
import { NamedEvent } from "../sse.js";
import type { TextStep } from "../text-generation.js";
import { toolUseId } from "./ids.js";
import { refuseUnsupportedMessagesParams } from "./params.js";

export function validateMessages(body: unknown): MessagesRequest {
  refuseUnsupportedMessagesParams(body);
  const result = validateMessagesRequest(body);
  if (!result.ok) throw new HttpError(400, result.error.error.message, "invalid_request");
  return result.value;
}

export function validateCountTokens(body: unknown): CountTokensRequest {
  refuseUnsupportedMessagesParams(body);
  const result = validateCountTokensRequest(body);
  if (!result.ok) throw new HttpError(400, result.error.error.message, "invalid_request");
  return result.value;
}

/** How this frontend reads Anthropic requests (`--strip-anthropic-preamble`). */
export interface AnthropicOptions {
  stripPreamble: boolean;
}

type Block = Exclude<MessagesRequest["messages"][number]["content"], string>[number];

const textOf = (blocks: readonly { type: string; text?: string }[]) =>
  blocks.flatMap((b) => (b.type === "text" && b.text !== undefined ? [b.text] : [])).join("\n");

/** Anthropic messages as the chat template's OpenAI-style messages (tool results become `tool` messages). */
function toChatMessages(body: Pick<MessagesRequest, "system" | "messages">): ChatTemplateMessage[] {
  const out: ChatTemplateMessage[] = [];
  if (body.system !== undefined) {
    out.push({
      role: "system",
      content: typeof body.system === "string" ? body.system : textOf(body.system),
    });
  }
  for (const message of body.messages) {
    if (typeof message.content === "string") {
      out.push({ role: message.role, content: message.content });
      continue;
    }
    const texts: string[] = [];
    const toolCalls: { id: string; type: "function"; function: { name: string; arguments: string } }[] = [];
    let reasoning = "";
    for (const block of message.content as Block[]) {
      switch (block.type) {
        case "text":
          texts.push(block.text);
          break;
        case "tool_use":
          toolCalls.push({
            id: block.id,
            type: "function",
            function: { name: block.name, arguments: JSON.stringify(block.input) },
          });
          break;
        case "tool_result": {
          const content = typeof block.content === "string" ? block.content : textOf(block.content ?? []);
          out.push({ role: "tool", tool_call_id: block.tool_use_id, content });
          break;
        }
        case "thinking":
          reasoning += block.thinking;
          break;
        case "redacted_thinking":
          break;
        default:
          throw badRequest(`Content blocks of type '${block.type}' are not supported by this model.`);
      }
    }
    if (texts.length === 0 && toolCalls.length === 0 && reasoning === "") continue;
    const chat: ChatTemplateMessage = { role: message.role, content: texts.join("") };
    if (toolCalls.length > 0) chat.tool_calls = toolCalls;
    if (reasoning) chat.reasoning_content = reasoning;
    out.push(chat);
  }
  return out;
}

/** A Messages request's prompt: rendered, tokenized, and the chat fields its tools map to. */
interface RenderedMessages {
  prompt: string;
  tokenIds: number[];
  tools: ReturnType<typeof toChatToolFields> & { ok: true };
  /** Prompt tokens up to the last `cache_control` breakpoint (0 without one). */
  breakpointTokens: number;
}

/**
 * Renders the conversation the way the model sees it: the billing preamble stripped when asked, tools left out
 * under `tool_choice: none`, and a final assistant message (a prefill) continued rather than closed.
 */
async function renderMessages(
  request: CountTokensRequest,
  model: ServedModel<Preprocessor>,
  pre: Preprocessor,
  options: AnthropicOptions,
  signal?: AbortSignal,
): Promise<RenderedMessages> {
  const body = options.stripPreamble ? { ...request, system: stripBillingPreamble(request.system) } : request;
  const tools = toChatToolFields(body);
  if (!tools.ok) throw badRequest(tools.error);
  const messages = toChatMessages(body);
  const final = messages.at(-1);
  const prefill =
    body.messages.at(-1)?.role === "assistant" &&
    final?.role === "assistant" &&
    typeof final.content === "string"
      ? final.content
      : undefined;
  if (prefill !== undefined && prefill !== prefill.trimEnd()) {
    // As Anthropic: a continued text ending in whitespace would make the model's next token an odd split.
    throw badRequest("messages: final assistant content cannot end with trailing whitespace");
  }
  const input = {
    messages,
    addGenerationPrompt: prefill === undefined,
    ...(tools.value.tools ? { tools: tools.value.tools } : {}),
    ...(body.thinking ? { kwargs: { enable_thinking: body.thinking.type === "enabled" } } : {}),
  };
  // A prefill is continued: the prompt is cut after its text (on a pool thread too, when large).
  const { prompt, tokenIds } = await tokenizeChat(pre, input, {
    contextLength: model.card.contextLength,
    ...(prefill !== undefined ? { continueFinal: prefill } : {}),
    ...(signal ? { signal } : {}),
  });
  const breakpoint = await breakpointTokens(body, pre, prompt, tokenIds.length, signal);
  return { prompt, tokenIds, tools, breakpointTokens: breakpoint };
}

/**
 * Prompt tokens up to the last `cache_control` breakpoint: the shorter side of the breakpoint is tokenized (the
 * mark is usually near the end, so that is a few tokens), to within a token where a token spans the boundary.
 */
async function breakpointTokens(
  body: CountTokensRequest,
  pre: Preprocessor,
  prompt: string,
  total: number,
  signal?: AbortSignal,
): Promise<number> {
  const end = breakpointEnd(body, prompt);
  if (end === undefined) return 0;
  if (end >= prompt.length) return total;
  // Either side can be large (a breakpoint mid-prompt): a pool thread's work then, as the prompt's was.
  const options = {
    contextLength: Number.POSITIVE_INFINITY,
    addSpecialTokens: false,
    ...(signal ? { signal } : {}),
  };
  const count = async (text: string) => (await tokenizeText(pre, text, options)).length;
  return end <= prompt.length / 2
    ? count(prompt.slice(0, end))
    : Math.max(0, total - (await count(prompt.slice(end))));
}

/**
 * Where in the prompt the last `cache_control` breakpoint ends: after the text of the last marked system or
 * message text block (tool definitions and other blocks are not located; a prompt marked only there counts
 * whole).
 */
function breakpointEnd(body: CountTokensRequest, prompt: string): number | undefined {
  let text: string | undefined;
  let marked = false;
  const visit = (block: { cache_control?: unknown; type: string; text?: string }) => {
    if (!block.cache_control) return;
    marked = true;
    text = block.type === "text" ? block.text : undefined;
  };
  if (Array.isArray(body.system)) body.system.forEach(visit);
  for (const message of body.messages) if (Array.isArray(message.content)) message.content.forEach(visit);
  for (const tool of body.tools ?? []) visit({ ...tool, type: "tool" });
  if (!marked) return undefined;
  const at = text ? prompt.lastIndexOf(text) : -1;
  return at < 0 ? prompt.length : at + (text?.length ?? 0);
}

export async function prepareMessages(
  body: MessagesRequest,
  model: ServedModel<Preprocessor>,
  pre: Preprocessor,
  options: AnthropicOptions = { stripPreamble: false },
  signal?: AbortSignal,
): Promise<PreparedMessages> {
  const { prompt, tokenIds, tools, breakpointTokens } = await renderMessages(
    body,
    model,
    pre,
    options,
    signal,
  );
  // tool_choice any/tool become chat's required/named function: the same engine constraint as an OpenAI request.
  const sampling = {
    model: body.model,
    max_tokens: body.max_tokens,
    temperature: body.temperature,
    top_p: body.top_p,
    top_k: body.top_k,
    stop: body.stop_sequences,
    stream: body.stream,
    nvext: body.nvext,
    ...tools.value,
  };
  const prepared = prepare(sampling, model, pre.tokenizer.eosTokenIds, tokenIds);
  const forced = forcedToolChoice(tools.value.tool_choice);
  if (!forced || !tools.value.tools) return { prepared, prompt, breakpointTokens };
  const parallel = tools.value.parallel_tool_calls ?? true;
  prepared.params.structuredOutputs = toolChoiceConstraint(tools.value.tools, forced, parallel);
  return { prepared, prompt, breakpointTokens, forced };
}

export interface PreparedMessages {
  prepared: PreparedRequest;
  prompt: string;
  breakpointTokens: number;
  /** tool_choice any/tool: the output is the constraint's JSON, read back as tool_use blocks. */
  forced?: ForcedToolChoice;
}

/** `POST /v1/messages/count_tokens`: the prompt's tokens, counted as the Messages request would be. */
export async function countMessageTokens(
  body: CountTokensRequest,
  model: ServedModel<Preprocessor>,
  pre: Preprocessor,
  options: AnthropicOptions,
  signal?: AbortSignal,
): Promise<number> {
  return (await renderMessages(body, model, pre, options, signal)).tokenIds.length;
}

/**
 * Anthropic's usage: `input_tokens` are those neither read from nor written to the cache;
 * `cache_read_input_tokens` the prefix found cached; `cache_creation_input_tokens` what was not cached up to the
 * request's last `cache_control` breakpoint (the prefix it asked to cache). The three add up to the prompt.
 */
export function anthropicUsage(usage: EngineUsage, breakpointTokens: number, outputTokens: number) {
  const cacheRead = Math.min(usage.cachedTokens, usage.promptTokens);
  const cacheCreation = Math.max(0, Math.min(breakpointTokens, usage.promptTokens) - cacheRead);
  return {
    input_tokens: usage.promptTokens - cacheRead - cacheCreation,
    cache_creation_input_tokens: cacheCreation,
    cache_read_input_tokens: cacheRead,
    output_tokens: outputTokens,
  };
}

type ContentBlock =
  | { type: "text"; text: string }
  | { type: "thinking"; thinking: string; signature: string }
  | { type: "tool_use"; id: string; name: string; input: unknown };

function stopReasonOf(step: TextStep, toolCalls: number): string {
  if (toolCalls > 0) return "tool_use";
  if (step.stopString !== undefined) return "stop_sequence";
  return step.finishReason === "length" ? "max_tokens" : "end_turn";
}

function toolUse(call: ToolCall): ContentBlock & { type: "tool_use" } {
  let input: unknown = {};
  try {
    input = JSON.parse(call.function.arguments);
  } catch {
    input = { arguments: call.function.arguments };
  }
  return { type: "tool_use", id: call.id, name: call.function.name, input };
}

/** Anthropic Messages output: content blocks (thinking, text, tool_use) and the event stream around them. */
export function messagesFormat(
  header: ResponseHeader,
  parsers: Pick<ChatOutputParserOptions, "reasoningParser" | "toolCallParser">,
  prompt: string,
  breakpointTokens: number,
  forced?: ForcedToolChoice,
): OutputFormat {
  const options: ChatOutputParserOptions = { ...parsers, newToolCallId: toolUseId };
  if (parsers.reasoningParser) options.promptOpensReasoning = promptOpensReasoning(prompt);
  const parser = forced ? new ForcedToolOutput(forced, toolUseId) : new ChatOutputParser(options);
  let toolCalls = 0;
  let open: { index: number; type: "text" | "thinking" } | undefined;
  let nextIndex = 0;

  const parse = (text: string, last: boolean) => {
    const parsed = parser.push(text);
    if (last) {
      const rest = parser.flush();
      parsed.reasoningContent += rest.reasoningContent;
      parsed.content += rest.content;
      parsed.toolCalls.push(...rest.toolCalls);
    }
    toolCalls += parsed.toolCalls.length;
    return parsed;
  };
  const event = (type: string, data: Record<string, unknown>) => new NamedEvent(type, { type, ...data });
  const closeOpen = (events: NamedEvent[]) => {
    if (open) events.push(event("content_block_stop", { index: open.index }));
    open = undefined;
  };
  const appendDelta = (events: NamedEvent[], type: "text" | "thinking", text: string) => {
    if (!text) return;
    if (open?.type !== type) {
      closeOpen(events);
      open = { index: nextIndex++, type };
      const block = type === "text" ? { type, text: "" } : { type, thinking: "", signature: "" };
      events.push(event("content_block_start", { index: open.index, content_block: block }));
    }
    const delta = type === "text" ? { type: "text_delta", text } : { type: "thinking_delta", thinking: text };
    events.push(event("content_block_delta", { index: open.index, delta }));
  };
  const usageOf = (step: TextStep) =>
    anthropicUsage(step.usage, breakpointTokens, step.usage.completionTokens);
  let started = false;

  return {
    doneMarker: false,
    // message_start goes out with the first step, whose usage already says how much of the prompt was cached.
    start: () => [],
    step(step) {
      const last = step.finishReason !== undefined;
      const parsed = parse(step.text, last);
      const events: NamedEvent[] = [];
      if (!started) {
        started = true;
        const message = {
          id: header.id,
          type: "message",
          role: "assistant",
          model: header.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: anthropicUsage(step.usage, breakpointTokens, 0),
        };
        events.push(event("message_start", { message }));
      }
      appendDelta(events, "thinking", parsed.reasoningContent);
      appendDelta(events, "text", parsed.content);
      for (const call of parsed.toolCalls) {
        closeOpen(events);
        const index = nextIndex++;
        events.push(event("content_block_start", { index, content_block: { ...toolUse(call), input: {} } }));
        const delta = { type: "input_json_delta", partial_json: call.function.arguments };
        events.push(event("content_block_delta", { index, delta }));
        events.push(event("content_block_stop", { index }));
      }
      if (last) {
        closeOpen(events);
        const delta = { stop_reason: stopReasonOf(step, toolCalls), stop_sequence: step.stopString ?? null };
        events.push(event("message_delta", { delta, usage: usageOf(step) }));
        events.push(event("message_stop", {}));
      }
      return events;
    },
    complete(text, last) {
      const parsed = parse(text, true);
      const content: ContentBlock[] = [];
      if (parsed.reasoningContent)
        content.push({ type: "thinking", thinking: parsed.reasoningContent, signature: "" });
      if (parsed.content) content.push({ type: "text", text: parsed.content });
      for (const call of parsed.toolCalls) content.push(toolUse(call));
      return {
        id: header.id,
        type: "message",
        role: "assistant",
        model: header.model,
        content,
        stop_reason: stopReasonOf(last, toolCalls),
        stop_sequence: last.stopString ?? null,
        usage: usageOf(last),
      };
    },
    error: (failure) => new NamedEvent("error", failure.toAnthropicBody()),
  };
}
