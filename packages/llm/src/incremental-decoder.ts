/** The part of a tokenizer the incremental decoder needs. */
export interface TokenDecoder {
  decode(ids: readonly number[], opts?: { skipSpecialTokens?: boolean }): string;
}

// Prompt tokens kept as decoding context, so a first output token's leading space survives decoders that strip
// it at the start of a sequence (SentencePiece/Metaspace).
const CONTEXT_TOKENS = 5;
const REPLACEMENT_CHAR = "\uFFFD";

/**
 * Turns a stream of token ids into text deltas. A multi-byte character split across byte-level tokens decodes
 * to U+FFFD until its last byte arrives, so text ending in U+FFFD is held back until the next token completes it.
 * Decodes a sliding window (last emitted chunk + pending tokens) rather than the whole sequence.
 */
export class IncrementalDecoder {
  readonly #decoder: TokenDecoder;
  readonly #skipSpecialTokens: boolean;
  readonly #ids: number[];
  #prefixOffset = 0;
  #readOffset: number;

  constructor(
    decoder: TokenDecoder,
    opts: { skipSpecialTokens?: boolean; contextIds?: readonly number[] } = {},
  ) {
    this.#decoder = decoder;
    this.#skipSpecialTokens = opts.skipSpecialTokens ?? true;
    this.#ids = (opts.contextIds ?? []).slice(-CONTEXT_TOKENS);
    this.#readOffset = this.#ids.length;
  }

  /** Adds one token; returns the text it completes ("" while a character is still incomplete). */
  push(id: number): string {
    this.#ids.push(id);
    const { prefixText, fullText } = this.#window();
    if (fullText.length <= prefixText.length || fullText.endsWith(REPLACEMENT_CHAR)) return "";
    return this.#advance(prefixText, fullText);
  }

  /** Returns any text still held back (an unfinished character decodes as U+FFFD). */
  flush(): string {
    const { prefixText, fullText } = this.#window();
    if (fullText.length <= prefixText.length) return "";
    return this.#advance(prefixText, fullText);
  }

  #window(): { prefixText: string; fullText: string } {
    const opts = { skipSpecialTokens: this.#skipSpecialTokens };
    const prefixText = this.#decoder.decode(this.#ids.slice(this.#prefixOffset, this.#readOffset), opts);
    const fullText = this.#decoder.decode(this.#ids.slice(this.#prefixOffset), opts);
    return { prefixText, fullText };
  }

  #advance(prefixText: string, fullText: string): string {
    this.#prefixOffset = this.#readOffset;
    this.#readOffset = this.#ids.length;
    return fullText.slice(prefixText.length);
  }
}
