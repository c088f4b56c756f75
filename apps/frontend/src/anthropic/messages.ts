import {
  ChatOutputParser,
  type ChatOutputParserOptions,
  type ChatTemplateMessage,
  type MessagesRequest,
  promptOpensReasoning,
  type ToolCall,
  validateMessagesRequest,
} from "@kvasir/llm";
import { badRequest, HttpError } from "../errors.js";
import type { ServedModel } from "../model-registry.js";
import type { OutputFormat } from "../openai/generation.js";
import { type PreparedRequest, prepare } from "../openai/prepare.js";
import type { ResponseHeader } from "../openai/responses.js";
import { type Preprocessor, renderChat } from "../preprocessor.js";
import { NamedEvent } from "../sse.js";
import type { TextStep } from "../text-generation.js";

export function validateMessages(body: unknown): MessagesRequest {
  const result = validateMessagesRequest(body);
  if (!result.ok) throw new HttpError(400, result.error.error.message, "invalid_request");
  return result.value;
}

type Block = Exclude<MessagesRequest["messages"][number]["content"], string>[number];

const textOf = (blocks: readonly { type: string; text?: string }[]) =>
  blocks.flatMap((b) => (b.type === "text" && b.text !== undefined ? [b.text] : [])).join("\n");

/** Anthropic messages as the chat template's OpenAI-style messages (tool results become `tool` messages). */
function toChatMessages(body: MessagesRequest): ChatTemplateMessage[] {
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

export function prepareMessages(
  body: MessagesRequest,
  model: ServedModel<Preprocessor>,
  pre: Preprocessor,
): { prepared: PreparedRequest; prompt: string } {
  const tools = body.tools?.map((t) => ({
    type: "function",
    function: { name: t.name, description: t.description, parameters: t.input_schema },
  }));
  const prompt = renderChat(pre, {
    messages: toChatMessages(body),
    addGenerationPrompt: true,
    ...(tools ? { tools } : {}),
    ...(body.thinking ? { kwargs: { enable_thinking: body.thinking.type === "enabled" } } : {}),
  });
  const tokenIds = pre.tokenizer.encode(prompt, { addSpecialTokens: false });
  const sampling = {
    model: body.model,
    max_tokens: body.max_tokens,
    temperature: body.temperature,
    top_p: body.top_p,
    top_k: body.top_k,
    stop: body.stop_sequences,
    stream: body.stream,
    nvext: body.nvext,
  };
  return { prepared: prepare(sampling, model, pre.tokenizer.eosTokenIds, tokenIds), prompt };
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

function toolUse(call: ToolCall): ContentBlock {
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
  inputTokens: number,
): OutputFormat {
  const options: ChatOutputParserOptions = { ...parsers };
  if (parsers.reasoningParser) options.promptOpensReasoning = promptOpensReasoning(prompt);
  const parser = new ChatOutputParser(options);
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
  const usageOf = (step: TextStep) => ({
    input_tokens: step.usage.promptTokens,
    output_tokens: step.usage.completionTokens,
    cache_read_input_tokens: step.usage.cachedTokens,
  });

  return {
    doneMarker: false,
    start: () => [
      event("message_start", {
        message: {
          id: header.id,
          type: "message",
          role: "assistant",
          model: header.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: inputTokens, output_tokens: 0 },
        },
      }),
    ],
    step(step) {
      const last = step.finishReason !== undefined;
      const parsed = parse(step.text, last);
      const events: NamedEvent[] = [];
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
        events.push(event("message_delta", { delta, usage: { output_tokens: step.usage.completionTokens } }));
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
