import {
  type ChatCompletionRequest,
  ChatOutputParser,
  type ChatOutputParserOptions,
  promptOpensReasoning,
  validateChatCompletionRequest,
} from "@kvasir/llm";
import { HttpError } from "../errors.js";
import type { ServedModel } from "../model-registry.js";
import { type Preprocessor, renderChat } from "../preprocessor.js";
import { DeltaFrames } from "../sse.js";
import type { OutputFormat } from "./generation.js";
import { type PreparedRequest, prepare } from "./prepare.js";
import {
  type ChatChunkDelta,
  type ChatMessageOut,
  chatChunk,
  chatCompletion,
  type ResponseHeader,
  toFinishReason,
  usageChunk,
} from "./responses.js";

export function validateChat(body: unknown): ChatCompletionRequest {
  const result = validateChatCompletionRequest(body);
  if (!result.ok) {
    const { message, code, param } = result.error.error;
    throw new HttpError(400, message, code, param);
  }
  return result.value;
}

/** Renders the chat template and tokenizes the prompt. */
export function prepareChat(
  body: ChatCompletionRequest,
  model: ServedModel<Preprocessor>,
  pre: Preprocessor,
): { prepared: PreparedRequest; prompt: string } {
  const input = {
    messages: body.messages,
    addGenerationPrompt: true,
    ...(body.tools ? { tools: body.tools } : {}),
    ...(body.chat_template_kwargs ? { kwargs: body.chat_template_kwargs } : {}),
  };
  const prompt = renderChat(pre, input);
  const tokenIds = pre.tokenizer.encode(prompt, { addSpecialTokens: false });
  return { prepared: prepare(body, model, pre.tokenizer.eosTokenIds, tokenIds), prompt };
}

export type ParserChoice = Pick<ChatOutputParserOptions, "reasoningParser" | "toolCallParser">;

/** Chat completions output: content, reasoning and tool calls per delta, usage on the final answer. */
export function chatFormat(
  header: ResponseHeader,
  parsers: ParserChoice,
  prompt: string,
  includeUsage: boolean,
): OutputFormat {
  const options: ChatOutputParserOptions = { ...parsers };
  if (parsers.reasoningParser) options.promptOpensReasoning = promptOpensReasoning(prompt);
  const parser = new ChatOutputParser(options);
  const toDelta = (text: string, last: boolean): ChatChunkDelta | undefined => {
    const parsed = parser.push(text);
    if (last) {
      const rest = parser.flush();
      parsed.content += rest.content;
      parsed.reasoningContent += rest.reasoningContent;
      parsed.toolCalls.push(...rest.toolCalls);
    }
    const delta: ChatChunkDelta = {};
    if (parsed.content) delta.content = parsed.content;
    if (parsed.reasoningContent) delta.reasoning_content = parsed.reasoningContent;
    if (parsed.toolCalls.length > 0) delta.tool_calls = parsed.toolCalls;
    return Object.keys(delta).length > 0 ? delta : undefined;
  };
  // The common chunk (content only, not the last) is rendered once and filled in per step.
  let contents: DeltaFrames | undefined;
  return {
    start: () => [chatChunk(header, { role: "assistant", content: "" }, null, includeUsage)],
    step({ text, finishReason: finish }) {
      const delta = toDelta(text, finish !== undefined);
      if (finish)
        return [chatChunk(header, delta ?? {}, toFinishReason(finish, parser.toolCallCount), includeUsage)];
      if (delta === undefined) return [];
      if (delta.content !== undefined && Object.keys(delta).length === 1) {
        contents ??= new DeltaFrames((marker) => chatChunk(header, { content: marker }, null, includeUsage));
        return [contents.delta(delta.content)];
      }
      return [chatChunk(header, delta, null, includeUsage)];
    },
    error: (failure) => failure.toBody(),
    doneMarker: true,
    usage: (usage) => usageChunk(header, "chat.completion.chunk", usage),
    complete(text, last) {
      const { finishReason: finish = "stop", usage } = last;
      const delta = toDelta(text, true);
      const message: ChatMessageOut = { role: "assistant", content: delta?.content ?? "" };
      if (delta?.reasoning_content) message.reasoning_content = delta.reasoning_content;
      if (delta?.tool_calls) {
        message.tool_calls = delta.tool_calls;
        if (!delta.content) message.content = null;
      }
      return chatCompletion(header, message, toFinishReason(finish, parser.toolCallCount), usage, last);
    },
  };
}
