import {
  ChatTemplate,
  ChatTemplateError,
  type ChatTemplateInput,
  defaultModelDir,
  defaultModelSource,
  loadTokenizer,
  type Tokenizer,
} from "@kvasir/llm";
import type { ModelDeploymentCard } from "@kvasir/protocol";
import { badRequest, clientClosed, HttpError } from "./errors.js";
import { chatInputChars, contextExceeded, maxTokenBytes, refuseObviouslyTooLong } from "./prompt-size.js";
import { OFFLOAD_CHARS, type TokenizerPool } from "./tokenizer-pool.js";
import type { TokenizeResult, TokenizerSource, TokenizeTask } from "./tokenizer-worker.js";

/** A model's tokenizer and chat template, shared by every request for models in the same directory. */
export interface Preprocessor {
  tokenizer: Tokenizer;
  chatTemplate: ChatTemplate | undefined;
  /** Threads for large prompts, and where they load this tokenizer from; inline only when absent. */
  offload?: { pool: TokenizerPool; source: TokenizerSource };
}

/** Loads the tokenizer of `dir` (the bundled Qwen3 one gets its generation config supplied). */
export async function loadPreprocessor(dir: string, card: ModelDeploymentCard): Promise<Preprocessor> {
  const model = dir === defaultModelDir() ? defaultModelSource() : dir;
  const tokenizer = await loadTokenizer(model);
  // The refusal bound, worked out with the model's load rather than on its first request.
  maxTokenBytes(tokenizer);
  const source = card.chatTemplate ?? tokenizer.chatTemplate;
  return {
    tokenizer,
    chatTemplate: source === undefined ? undefined : new ChatTemplate(source, tokenizer.specialTokens),
  };
}

/** `loadPreprocessor` whose preprocessors tokenize large prompts on `pool`. */
export function preprocessorLoader(pool: TokenizerPool) {
  return async (dir: string, card: ModelDeploymentCard): Promise<Preprocessor> => {
    const pre = await loadPreprocessor(dir, card);
    const model = dir === defaultModelDir() ? defaultModelSource() : dir;
    const source: TokenizerSource = card.chatTemplate
      ? { model, chatTemplate: card.chatTemplate }
      : { model };
    return { ...pre, offload: { pool, source } };
  };
}

/** Renders the chat prompt; a model without a template serves only /v1/completions. */
export function renderChat(pre: Preprocessor, input: ChatTemplateInput): string {
  if (!pre.chatTemplate) throw badRequest("This model has no chat template; use /v1/completions.");
  try {
    return pre.chatTemplate.render(input);
  } catch (error) {
    if (error instanceof ChatTemplateError) throw badRequest(error.message, "messages");
    throw error;
  }
}

export interface TokenizeOptions {
  /** The model's context length: a prompt that obviously exceeds it is refused before it is tokenized. */
  contextLength: number;
  /** The client left: a pool thread stops tokenizing for it. */
  signal?: AbortSignal;
  /** The request field a refusal names (default "messages" for chats, "prompt" for text). */
  param?: string;
}

/**
 * Renders and tokenizes a chat prompt. A large one goes to a pool thread so the event loop stays free; one that
 * cannot fit the context is refused (OpenAI's 400, `context_length_exceeded`) without being tokenized.
 */
export async function tokenizeChat(
  pre: Preprocessor,
  input: ChatTemplateInput,
  opts: TokenizeOptions,
): Promise<{ prompt: string; tokenIds: number[] }> {
  if (!pre.offload || chatInputChars(input) <= OFFLOAD_CHARS) {
    const prompt = renderChat(pre, input);
    refuseObviouslyTooLong(
      prompt,
      maxTokenBytes(pre.tokenizer),
      opts.contextLength,
      opts.param ?? "messages",
    );
    return { prompt, tokenIds: pre.tokenizer.encode(prompt, { addSpecialTokens: false }) };
  }
  if (!pre.chatTemplate) throw badRequest("This model has no chat template; use /v1/completions.");
  const task = { source: pre.offload.source, chat: input, ...bounds(pre, opts) };
  const result = await offloaded(pre.offload.pool, task, opts.signal);
  const param = opts.param ?? "messages";
  if (result.kind === "template_error") throw badRequest(result.message, param);
  if (result.kind === "too_long")
    throw contextExceeded(opts.contextLength, `at least ${result.leastTokens}`, param);
  return { prompt: result.prompt ?? "", tokenIds: Array.from(result.tokenIds) };
}

/** Tokenizes a completions prompt as `tokenizeChat` does a chat (with the tokenizer's special tokens). */
export async function tokenizeText(
  pre: Preprocessor,
  text: string,
  opts: TokenizeOptions,
): Promise<number[]> {
  const longest = maxTokenBytes(pre.tokenizer);
  const param = opts.param ?? "prompt";
  refuseObviouslyTooLong(text, longest, opts.contextLength, param);
  if (!pre.offload || text.length <= OFFLOAD_CHARS) return pre.tokenizer.encode(text);
  const task = { source: pre.offload.source, text, ...bounds(pre, opts) };
  const result = await offloaded(pre.offload.pool, task, opts.signal);
  if (result.kind === "too_long")
    throw contextExceeded(opts.contextLength, `at least ${result.leastTokens}`, param);
  if (result.kind !== "tokens") throw badRequest("The prompt could not be tokenized.", param);
  return Array.from(result.tokenIds);
}

function bounds(pre: Preprocessor, opts: TokenizeOptions) {
  return { contextLength: opts.contextLength, longestToken: maxTokenBytes(pre.tokenizer) };
}

/** Large prompts waiting for a tokenizer thread at most; more are refused (503) rather than held in memory. */
export const MAX_QUEUED_PROMPTS = 32;

// A client that leaves while its prompt is tokenized stops the thread; that is a client's cancel, not a fault.
async function offloaded(
  pool: TokenizerPool,
  task: TokenizeTask,
  signal?: AbortSignal,
): Promise<TokenizeResult> {
  if (pool.pending >= MAX_QUEUED_PROMPTS) {
    throw new HttpError(
      503,
      "Too many large prompts are waiting to be tokenized; retry later.",
      "overloaded",
    );
  }
  try {
    return await pool.run(task, signal);
  } catch (error) {
    if (signal?.aborted) throw clientClosed();
    throw error;
  }
}
