import {
  type ChatCompletionMessage,
  type ChatCompletionRequest,
  ChatOutputParser,
  type ChatOutputParserOptions,
  promptOpensReasoning,
  validateChatCompletionRequest,
} from "@kvasir/llm";
import type { StructuredOutputs } from "@kvasir/serving";
import { badRequest, HttpError } from "../errors.js";
import type { ServedModel } from "../model-registry.js";
import { type Preprocessor, tokenizeChat } from "../preprocessor.js";
import { DeltaFrames } from "../sse.js";
import type { TextStep } from "../text-generation.js";
import type { OutputFormat } from "./generation.js";
import { LogprobRenderer } from "./logprobs.js";
import { type PreparedRequest, prepare } from "./prepare.js";
import {
  type ChatChunkDelta,
  type ChatMessageOut,
  type ChoiceExtras,
  chatChunk,
  chatCompletion,
  type ResponseHeader,
  toFinishReason,
  usageChunk,
} from "./responses.js";
import {
  type ForcedToolChoice,
  forcedToolChoice,
  parseForcedToolCalls,
  responseFormatConstraint,
  toolCallId,
  toolChoiceConstraint,
} from "./structured.js";

export function validateChat(body: unknown): ChatCompletionRequest {
  const result = validateChatCompletionRequest(body);
  if (!result.ok) {
    const { message, code, param } = result.error.error;
    throw new HttpError(400, message, code, param);
  }
  return result.value;
}

/** Renders the chat template and tokenizes the prompt (a large one off the event loop). */
export async function prepareChat(
  body: ChatCompletionRequest,
  model: ServedModel<Preprocessor>,
  pre: Preprocessor,
  signal?: AbortSignal,
): Promise<{ prepared: PreparedRequest; prompt: string }> {
  const input = {
    messages: body.messages.map(systemForDeveloper),
    addGenerationPrompt: true,
    ...(body.tools ? { tools: body.tools } : {}),
    ...(body.chat_template_kwargs ? { kwargs: body.chat_template_kwargs } : {}),
  };
  const options = { contextLength: model.card.contextLength, ...(signal ? { signal } : {}) };
  const { prompt, tokenIds } = await tokenizeChat(pre, input, options);
  const prepared = prepare(body, model, pre.tokenizer.eosTokenIds, tokenIds);
  if (body.logprobs) prepared.params.logprobs = body.top_logprobs ?? 0;
  const constraint = chatConstraint(body);
  if (constraint) prepared.params.structuredOutputs = constraint;
  return { prepared, prompt };
}

/** OpenAI's developer role is the system prompt of models that predate it; chat templates know only `system`. */
function systemForDeveloper(message: ChatCompletionMessage): ChatCompletionMessage {
  return message.role === "developer" ? { ...message, role: "system" } : message;
}

/** The guided-decoding constraint of a chat request: a forced tool choice, else its response_format. */
export function chatConstraint(body: ChatCompletionRequest): StructuredOutputs | undefined {
  const forced = forcedToolChoice(body.tool_choice);
  if (forced && body.tools) {
    if (body.response_format && body.response_format.type !== "text") {
      throw badRequest(
        "'response_format' cannot be combined with a forced 'tool_choice'.",
        "response_format",
      );
    }
    return toolChoiceConstraint(body.tools, forced, body.parallel_tool_calls ?? true);
  }
  return responseFormatConstraint(body.response_format);
}

/** Per-choice options of a chat answer. */
export interface ChatChoiceOptions {
  index?: number;
  /** Renders logprobs when the request asked for them. */
  logprobs?: LogprobRenderer | undefined;
  /** The output is a forced tool choice's JSON, read back as tool calls rather than parsed as model text. */
  forced?: ForcedToolChoice | undefined;
}

/** The options of each choice of a chat answer (index, logprobs, a forced tool choice). */
export function chatChoiceOptions(
  body: ChatCompletionRequest,
  pre: Preprocessor,
  prepared: PreparedRequest,
): (index: number) => ChatChoiceOptions {
  const forced = body.tools ? forcedToolChoice(body.tool_choice) : undefined;
  return (index) => ({ index, logprobs: chatLogprobs(body, pre, prepared), forced });
}

/** The logprob renderer of a chat request that asked for logprobs (stop tokens such as EOS left out). */
export function chatLogprobs(
  body: ChatCompletionRequest,
  pre: Preprocessor,
  prepared: PreparedRequest,
): LogprobRenderer | undefined {
  if (!body.logprobs) return undefined;
  const stops = new Set(prepared.detokenizer.stopTokenIds ?? []);
  return new LogprobRenderer(pre.tokenizer, (id) => stops.has(id));
}

export type ParserChoice = Pick<ChatOutputParserOptions, "reasoningParser" | "toolCallParser">;

/** Chat completions output: content, reasoning and tool calls per delta, usage on the final answer. */
export function chatFormat(
  header: ResponseHeader,
  parsers: ParserChoice,
  prompt: string,
  includeUsage: boolean,
  { index = 0, logprobs, forced }: ChatChoiceOptions = {},
): OutputFormat {
  if (forced) return forcedToolFormat(header, includeUsage, index, forced, logprobs);
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
  const logprobsOf = choiceLogprobs(index, logprobs);
  return {
    start: () => [chatChunk(header, { role: "assistant", content: "" }, null, includeUsage, { index })],
    step(step) {
      const finish = step.finishReason;
      const delta = toDelta(step.text, finish !== undefined);
      const extra = logprobsOf.step(step);
      if (finish)
        return [
          chatChunk(header, delta ?? {}, toFinishReason(finish, parser.toolCallCount), includeUsage, extra),
        ];
      if (delta === undefined && extra.logprobs === undefined) return [];
      if (
        delta?.content !== undefined &&
        Object.keys(delta).length === 1 &&
        extra.logprobs === undefined &&
        index === 0
      ) {
        contents ??= new DeltaFrames((marker) => chatChunk(header, { content: marker }, null, includeUsage));
        return [contents.delta(delta.content)];
      }
      return [chatChunk(header, delta ?? {}, null, includeUsage, extra)];
    },
    collect: (step) => logprobsOf.collect(step),
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
      const finishReason = toFinishReason(finish, parser.toolCallCount);
      return chatCompletion(header, message, finishReason, usage, last, logprobsOf.all());
    },
  };
}

/** A choice's index and logprobs: per streamed step, or gathered over a non-streamed answer's steps. */
function choiceLogprobs(index: number, logprobs: LogprobRenderer | undefined) {
  const gathered: ReturnType<LogprobRenderer["chat"]> = [];
  return {
    step(step: TextStep): ChoiceExtras {
      const content = logprobs?.chat(step.tokenIds, step.logprobs);
      return content ? { index, logprobs: { content, refusal: null } } : { index };
    },
    collect(step: TextStep): void {
      if (logprobs) gathered.push(...logprobs.chat(step.tokenIds, step.logprobs));
    },
    all(): ChoiceExtras {
      return logprobs ? { index, logprobs: { content: gathered, refusal: null } } : { index };
    },
  };
}

/**
 * A forced tool choice's answer: the output is JSON in the constraint's shape, so nothing but logprobs is sent until
 * it is complete, then its calls go out in one delta (finish_reason "tool_calls"); output cut short is content.
 */
function forcedToolFormat(
  header: ResponseHeader,
  includeUsage: boolean,
  index: number,
  forced: ForcedToolChoice,
  logprobs: LogprobRenderer | undefined,
): OutputFormat {
  let text = "";
  const logprobsOf = choiceLogprobs(index, logprobs);
  const answer = (all: string) => {
    const calls = parseForcedToolCalls(all, forced, toolCallId);
    return calls.length > 0 ? { content: null, toolCalls: calls } : { content: all, toolCalls: undefined };
  };
  return {
    start: () => [chatChunk(header, { role: "assistant", content: "" }, null, includeUsage, { index })],
    step(step) {
      text += step.text;
      const extra = logprobsOf.step(step);
      if (!step.finishReason) return extra.logprobs ? [chatChunk(header, {}, null, includeUsage, extra)] : [];
      const { content, toolCalls } = answer(text);
      const delta: ChatChunkDelta = toolCalls ? { tool_calls: toolCalls } : { content: content ?? "" };
      const finish = toFinishReason(step.finishReason, toolCalls?.length ?? 0);
      return [chatChunk(header, delta, finish, includeUsage, extra)];
    },
    collect: (step) => logprobsOf.collect(step),
    error: (failure) => failure.toBody(),
    doneMarker: true,
    usage: (usage) => usageChunk(header, "chat.completion.chunk", usage),
    complete(all, last) {
      const { content, toolCalls } = answer(all);
      const message: ChatMessageOut = { role: "assistant", content };
      if (toolCalls) message.tool_calls = toolCalls;
      const finish = toFinishReason(last.finishReason ?? "stop", toolCalls?.length ?? 0);
      return chatCompletion(header, message, finish, last.usage, last, logprobsOf.all());
    },
  };
}
