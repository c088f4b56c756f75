import type { ChatTemplateInput, Tokenizer } from "@kvasir/llm";
import { HttpError } from "./errors.js";

// Per tokenizer: the longest vocabulary entry in UTF-8 bytes, computed once (about 150k entries, tens of ms).
const longestToken = new WeakMap<Tokenizer, number>();

/**
 * The most UTF-8 bytes of text one token can cover, worked out once per tokenizer: each token's decoded text
 * (exact, but a lone byte of a multi-byte character decodes to U+FFFD, three bytes for one) or its stored form
 * (byte-level BPE stores each byte as one character of one or two bytes, SentencePiece text as itself with `▁`
 * for a space), whichever is shorter: both are at least what the token covers. Qwen3: 128 bytes. About 150k
 * decodes, a few hundred milliseconds at model load.
 */
export function maxTokenBytes(tokenizer: Tokenizer): number {
  let longest = longestToken.get(tokenizer);
  if (longest !== undefined) return longest;
  longest = 1;
  for (let id = 0; id < tokenizer.vocabSize; id++) {
    const stored = tokenizer.idToToken(id);
    if (stored === undefined) continue;
    const decoded = Buffer.byteLength(tokenizer.decode([id], { skipSpecialTokens: false }));
    longest = Math.max(longest, Math.min(decoded, Buffer.byteLength(stored)));
  }
  longestToken.set(tokenizer, longest);
  return longest;
}

/** The fewest tokens `text` can encode to: its bytes over the longest token's. */
export function minimumTokens(text: string, longest: number): number {
  return Math.ceil(Buffer.byteLength(text) / longest);
}

/** OpenAI's refusal of a prompt longer than the context, with its code. */
export function contextExceeded(contextLength: number, tokens: string, param: string): HttpError {
  return new HttpError(
    400,
    `This model's maximum context length is ${contextLength} tokens. However, your request has ${tokens} tokens in the prompt. Please reduce the length of the prompt.`,
    "context_length_exceeded",
    param,
  );
}

/**
 * Refuses, before tokenizing it, a prompt that cannot fit: even at the longest token it is at least the context
 * length (a prompt needs room for one generated token). Cheap: one pass over the text's bytes.
 */
export function refuseObviouslyTooLong(
  text: string,
  longest: number,
  contextLength: number,
  param: string,
): void {
  const least = minimumTokens(text, longest);
  if (least >= contextLength) throw contextExceeded(contextLength, `at least ${least}`, param);
}

/** Characters of text a chat request carries (message text, tool definitions): what tokenizing it will cost. */
export function chatInputChars(input: ChatTemplateInput): number {
  let chars = 0;
  for (const message of input.messages) {
    const { content } = message;
    if (typeof content === "string") chars += content.length;
    else if (Array.isArray(content)) for (const part of content) chars += part.text?.length ?? 0;
    // Other text fields the template may render (reasoning_content, name, tool_call_id).
    for (const [key, value] of Object.entries(message))
      if (key !== "content" && typeof value === "string") chars += value.length;
  }
  if (input.tools) chars += JSON.stringify(input.tools).length;
  return chars;
}
