import { type CompletionRequest, validateCompletionRequest } from "@kvasir/llm";
import { badRequest, HttpError } from "../errors.js";
import type { ServedModel } from "../model-registry.js";
import { type Preprocessor, tokenizeText } from "../preprocessor.js";
import { DeltaFrames } from "../sse.js";
import type { OutputFormat } from "./generation.js";
import { type CompletionLogprobs, joinCompletionLogprobs, LogprobRenderer } from "./logprobs.js";
import { type PreparedRequest, prepare } from "./prepare.js";
import {
  type ChoiceExtras,
  nvextOf,
  type ResponseHeader,
  textCompletion,
  toFinishReason,
  usageChunk,
} from "./responses.js";

export function validateCompletion(body: unknown): CompletionRequest {
  // A prompt of token ids (thousands of them) is checked here in one plain loop and the rest of the body by the
  // schema, with a one-id stand-in for the prompt: the schema's walk of a long id array costs ~0.1 ms a request.
  // Anything else, including a bad id, goes through the schema whole and gets its detailed error.
  if (isRecord(body) && isTokenIdArray(body.prompt)) {
    const ids = body.prompt;
    const result = validateCompletionRequest({ ...body, prompt: [0] });
    if (result.ok) {
      result.value.prompt = [ids];
      return result.value;
    }
  }
  const result = validateCompletionRequest(body);
  if (!result.ok) {
    const { message, code, param } = result.error.error;
    throw new HttpError(400, message, code, param);
  }
  return result.value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A non-empty array of uint32 token ids (what the schema's token-id branch accepts). */
function isTokenIdArray(value: unknown): value is number[] {
  if (!Array.isArray(value) || value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const id: unknown = value[i];
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > 0xffffffff) return false;
  }
  return true;
}

/**
 * The first id not below `vocab`. An indexed loop in a plain function: a `for...of` inside the async caller ran
 * unoptimized and allocated an iterator result per id (~370 KB for an 8,000-id prompt).
 */
function firstIdOutside(ids: readonly number[], vocab: number): number | undefined {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (id !== undefined && id >= vocab) return id;
  }
  return undefined;
}

/** One prompt of a completion request, ready to run, and the text `echo` puts in front of its answer. */
export interface CompletionPrompt {
  prepared: PreparedRequest;
  echo: string;
}

/** Tokenizes each text prompt (a large one off the event loop), or takes token ids as given (checked in range). */
export function prepareCompletion(
  body: CompletionRequest,
  model: ServedModel<Preprocessor>,
  pre: Preprocessor,
  signal?: AbortSignal,
): Promise<CompletionPrompt[]> {
  const contextLength = model.card.contextLength;
  return Promise.all(
    body.prompt.map(async (prompt, i) => {
      const param = body.prompt.length > 1 ? `prompt[${i}]` : "prompt";
      let tokenIds: number[];
      if (typeof prompt === "string") {
        tokenIds = await tokenizeText(pre, prompt, { contextLength, param, ...(signal ? { signal } : {}) });
      } else {
        const vocab = pre.tokenizer.vocabSize;
        tokenIds = prompt;
        const outside = firstIdOutside(tokenIds, vocab);
        if (outside !== undefined) {
          throw badRequest(`Token id ${outside} is outside the vocabulary (${vocab}).`, param);
        }
      }
      const echo = body.echo ? (typeof prompt === "string" ? prompt : pre.tokenizer.decode(tokenIds)) : "";
      const prepared = prepare(body, model, pre.tokenizer.eosTokenIds, tokenIds);
      if (body.logprobs != null) prepared.params.logprobs = body.logprobs;
      return { prepared, echo };
    }),
  );
}

/** The logprob renderer of one choice of a completion request that asked for logprobs. */
export function completionLogprobs(
  body: CompletionRequest,
  pre: Preprocessor,
  prompt: CompletionPrompt,
): LogprobRenderer | undefined {
  if (body.logprobs == null) return undefined;
  const stops = new Set(prompt.prepared.detokenizer.stopTokenIds ?? []);
  return new LogprobRenderer(pre.tokenizer, (id) => stops.has(id), prompt.echo.length);
}

/** Completions output: text per chunk; `echo` puts the prompt in front of the first text. */
export function completionFormat(
  header: ResponseHeader,
  echo: string,
  includeUsage: boolean,
  { index = 0, logprobs }: { index?: number; logprobs?: LogprobRenderer | undefined } = {},
): OutputFormat {
  // Every text chunk but the last differs only in its text: rendered once, filled in per step.
  let texts: DeltaFrames | undefined;
  const gathered: CompletionLogprobs[] = [];
  const extras = (part: CompletionLogprobs | undefined): ChoiceExtras =>
    part ? { index, logprobs: part } : { index };
  return {
    start: () => (echo ? [textCompletion(header, echo, null, null, includeUsage, { index })] : []),
    step(step) {
      const { text, finishReason: finish } = step;
      const part = logprobs?.completion(step.tokenIds, step.logprobs);
      if (finish)
        return [textCompletion(header, text, toFinishReason(finish, 0), null, includeUsage, extras(part))];
      if (!text && !part) return [];
      if (part || index !== 0) return [textCompletion(header, text, null, null, includeUsage, extras(part))];
      texts ??= new DeltaFrames((marker) => textCompletion(header, marker, null, null, includeUsage));
      return [texts.delta(text)];
    },
    collect(step) {
      const part = logprobs?.completion(step.tokenIds, step.logprobs);
      if (part) gathered.push(part);
    },
    error: (failure) => failure.toBody(),
    doneMarker: true,
    usage: (usage) => usageChunk(header, "text_completion", usage),
    complete: (text, last) => ({
      ...textCompletion(
        header,
        echo + text,
        toFinishReason(last.finishReason ?? "stop", 0),
        last.usage,
        false,
        extras(logprobs ? joinCompletionLogprobs(gathered) : undefined),
      ),
      ...nvextOf(last),
    }),
  };
}
