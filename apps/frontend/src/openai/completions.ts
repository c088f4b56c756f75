import { type CompletionRequest, validateCompletionRequest } from "@kvasir/llm";
import { badRequest, HttpError } from "../errors.js";
import type { ServedModel } from "../model-registry.js";
import type { Preprocessor } from "../preprocessor.js";
import { DeltaFrames } from "../sse.js";
import type { OutputFormat } from "./generation.js";
import { type PreparedRequest, prepare } from "./prepare.js";
import { nvextOf, type ResponseHeader, textCompletion, toFinishReason, usageChunk } from "./responses.js";

export function validateCompletion(body: unknown): CompletionRequest {
  const result = validateCompletionRequest(body);
  if (!result.ok) {
    const { message, code, param } = result.error.error;
    throw new HttpError(400, message, code, param);
  }
  return result.value;
}

/** Tokenizes a text prompt, or takes token ids as given (checked against the vocabulary). */
export function prepareCompletion(
  body: CompletionRequest,
  model: ServedModel<Preprocessor>,
  pre: Preprocessor,
): { prepared: PreparedRequest; echo: string } {
  let tokenIds: number[];
  if (typeof body.prompt === "string") {
    tokenIds = pre.tokenizer.encode(body.prompt);
  } else {
    const vocab = pre.tokenizer.vocabSize;
    tokenIds = body.prompt;
    // A plain loop: prompts run to many thousands of ids, and this runs on every request.
    for (const id of tokenIds) {
      if (id >= vocab) throw badRequest(`Token id ${id} is outside the vocabulary (${vocab}).`, "prompt");
    }
  }
  const echo = body.echo
    ? typeof body.prompt === "string"
      ? body.prompt
      : pre.tokenizer.decode(tokenIds)
    : "";
  return { prepared: prepare(body, model, pre.tokenizer.eosTokenIds, tokenIds), echo };
}

/** Completions output: text per chunk; `echo` puts the prompt in front of the first text. */
export function completionFormat(header: ResponseHeader, echo: string, includeUsage: boolean): OutputFormat {
  // Every text chunk but the last differs only in its text: rendered once, filled in per step.
  let texts: DeltaFrames | undefined;
  return {
    start: () => (echo ? [textCompletion(header, echo, null, null, includeUsage)] : []),
    step({ text, finishReason: finish }) {
      if (finish) return [textCompletion(header, text, toFinishReason(finish, 0), null, includeUsage)];
      if (!text) return [];
      texts ??= new DeltaFrames((marker) => textCompletion(header, marker, null, null, includeUsage));
      return [texts.delta(text)];
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
      ),
      ...nvextOf(last),
    }),
  };
}
