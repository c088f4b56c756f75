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
import { continueFinalMessage } from "./anthropic/prefill.js";
import { badRequest, clientClosed, HttpError } from "./errors.js";
import { chatInputChars, contextExceeded, maxTokenBytes, refuseObviouslyTooLong } from "./prompt-size.js";
import { OFFLOAD_CHARS, OFFLOAD_TOKENS, type TokenizerPool } from "./tokenizer-pool.js";
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
  /** Add the tokenizer's special tokens; default: for text, not for a rendered chat (its template adds them). */
  addSpecialTokens?: boolean;
}

export interface ChatTokenizeOptions extends TokenizeOptions {
  /** The final assistant message's text, continued (a prefill): the prompt ends right after it. */
  continueFinal?: string;
}

const notContinuable = () =>
  badRequest(
    "messages: this model's chat template does not render the final assistant message verbatim, so it cannot be continued",
  );

/**
 * Renders and tokenizes a chat prompt. A large one goes to a pool thread so the event loop stays free; one that
 * cannot fit the context is refused (OpenAI's 400, `context_length_exceeded`) without being tokenized.
 */
export async function tokenizeChat(
  pre: Preprocessor,
  input: ChatTemplateInput,
  opts: ChatTokenizeOptions,
): Promise<{ prompt: string; tokenIds: number[] }> {
  const { prompt, tokenIds } = await tokenizeChatFor(pre, input, opts, false);
  return { prompt, tokenIds };
}

/** `tokenizeChat`, also with each token's vocabulary string when asked (`/v1/tokenize`'s `token_strs`). */
async function tokenizeChatFor(
  pre: Preprocessor,
  input: ChatTemplateInput,
  opts: ChatTokenizeOptions,
  tokenStrs: boolean,
): Promise<{ prompt: string; tokenIds: number[]; tokenStrs?: string[] }> {
  const param = opts.param ?? "messages";
  const addSpecialTokens = opts.addSpecialTokens ?? false;
  if (!pre.offload || chatInputChars(input) <= OFFLOAD_CHARS) {
    let prompt = renderChat(pre, input);
    if (opts.continueFinal !== undefined) {
      const cut = continueFinalMessage(prompt, opts.continueFinal);
      if (cut === undefined) throw notContinuable();
      prompt = cut;
    }
    refuseObviouslyTooLong(prompt, maxTokenBytes(pre.tokenizer), opts.contextLength, param);
    const tokenIds = pre.tokenizer.encode(prompt, { addSpecialTokens });
    return { prompt, tokenIds, ...(tokenStrs ? { tokenStrs: tokenStrings(pre, tokenIds) } : {}) };
  }
  if (!pre.chatTemplate) throw badRequest("This model has no chat template; use /v1/completions.");
  const task: TokenizeTask = {
    source: pre.offload.source,
    chat: input,
    addSpecialTokens,
    ...bounds(pre, opts),
  };
  if (opts.continueFinal !== undefined) task.continueFinal = opts.continueFinal;
  if (tokenStrs) task.tokenStrs = true;
  const result = await offloaded(pre.offload.pool, task, opts.signal);
  if (result.kind === "template_error") throw badRequest(result.message, param);
  if (result.kind === "not_continuable") throw notContinuable();
  if (result.kind === "too_long")
    throw contextExceeded(opts.contextLength, `at least ${result.leastTokens}`, param);
  return {
    prompt: result.prompt ?? "",
    tokenIds: Array.from(result.tokenIds),
    ...(result.tokenStrs ? { tokenStrs: result.tokenStrs } : {}),
  };
}

/** Tokenizes a completions prompt as `tokenizeChat` does a chat (with the tokenizer's special tokens). */
export async function tokenizeText(
  pre: Preprocessor,
  text: string,
  opts: TokenizeOptions,
): Promise<number[]> {
  return (await tokenizeTextFor(pre, text, opts, false)).tokenIds;
}

async function tokenizeTextFor(
  pre: Preprocessor,
  text: string,
  opts: TokenizeOptions,
  tokenStrs: boolean,
): Promise<{ tokenIds: number[]; tokenStrs?: string[] }> {
  const longest = maxTokenBytes(pre.tokenizer);
  const param = opts.param ?? "prompt";
  const addSpecialTokens = opts.addSpecialTokens ?? true;
  refuseObviouslyTooLong(text, longest, opts.contextLength, param);
  if (!pre.offload || text.length <= OFFLOAD_CHARS) {
    const tokenIds = pre.tokenizer.encode(text, { addSpecialTokens });
    return { tokenIds, ...(tokenStrs ? { tokenStrs: tokenStrings(pre, tokenIds) } : {}) };
  }
  const task: TokenizeTask = { source: pre.offload.source, text, addSpecialTokens, ...bounds(pre, opts) };
  if (tokenStrs) task.tokenStrs = true;
  const result = await offloaded(pre.offload.pool, task, opts.signal);
  if (result.kind === "too_long")
    throw contextExceeded(opts.contextLength, `at least ${result.leastTokens}`, param);
  if (result.kind !== "tokens") throw badRequest("The prompt could not be tokenized.", param);
  return {
    tokenIds: Array.from(result.tokenIds),
    ...(result.tokenStrs ? { tokenStrs: result.tokenStrs } : {}),
  };
}

/** What `/v1/tokenize` asks for: a prompt or a chat, as a request would be tokenized, with or without token strings. */
export type TokenizeInput = { text: string } | { chat: ChatTemplateInput };

/**
 * Tokenizes for `/v1/tokenize`: as `tokenizeText` or `tokenizeChat` (large inputs on a pool thread), with no
 * context bound (vLLM's tokenize answers a count over `max_model_len` rather than refusing it).
 */
export async function tokenizeForClient(
  pre: Preprocessor,
  input: TokenizeInput,
  opts: { addSpecialTokens: boolean; tokenStrs: boolean; signal?: AbortSignal },
): Promise<{ tokenIds: number[]; tokenStrs?: string[] }> {
  const options: TokenizeOptions = {
    contextLength: Number.POSITIVE_INFINITY,
    addSpecialTokens: opts.addSpecialTokens,
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
  return "text" in input
    ? tokenizeTextFor(pre, input.text, options, opts.tokenStrs)
    : tokenizeChatFor(pre, input.chat, options, opts.tokenStrs);
}

/** Token ids to text; a long list is decoded on a pool thread. */
export async function detokenize(
  pre: Preprocessor,
  tokenIds: readonly number[],
  opts: { skipSpecialTokens: boolean; signal?: AbortSignal },
): Promise<string> {
  if (!pre.offload || tokenIds.length <= OFFLOAD_TOKENS)
    return pre.tokenizer.decode(tokenIds, { skipSpecialTokens: opts.skipSpecialTokens });
  const { pool, source } = pre.offload;
  refuseWhenQueueFull(pool);
  const task = { source, tokenIds: Uint32Array.from(tokenIds), skipSpecialTokens: opts.skipSpecialTokens };
  try {
    return await pool.detokenize(task, opts.signal);
  } catch (error) {
    if (opts.signal?.aborted) throw clientClosed();
    throw error;
  }
}

function tokenStrings(pre: Preprocessor, tokenIds: readonly number[]): string[] {
  return tokenIds.map((id) => pre.tokenizer.idToToken(id) ?? "");
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
  refuseWhenQueueFull(pool);
  try {
    return await pool.run(task, signal);
  } catch (error) {
    if (signal?.aborted) throw clientClosed();
    throw error;
  }
}

function refuseWhenQueueFull(pool: TokenizerPool): void {
  if (pool.pending >= MAX_QUEUED_PROMPTS) {
    throw new HttpError(
      503,
      "Too many large prompts are waiting to be tokenized; retry later.",
      "overloaded",
    );
  }
}
