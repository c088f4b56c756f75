import { IncrementalDecoder, type TokenDecoder } from "./incremental-decoder.js";
import { StopStringMatcher } from "./stop-strings.js";

export type DetokenizerFinishReason = "stop" | "length";

export interface DetokenizerOptions {
  /** Stop strings (OpenAI `stop`). */
  stop?: string | readonly string[];
  /** Token ids that end generation; callers pass the model's eos ids here unless `ignore_eos`. */
  stopTokenIds?: readonly number[];
  /** Keep the matched stop string or stop token text in the output. Default false. */
  includeStopStrInOutput?: boolean;
  /** Default true. */
  skipSpecialTokens?: boolean;
  /** Stop conditions apply only after this many output tokens. */
  minTokens?: number;
  /** Finish with "length" after this many output tokens. */
  maxTokens?: number;
  /** The prompt's token ids (only its tail is used, as decoding context). */
  promptIds?: readonly number[];
}

export interface DetokenizerOutput {
  /** New text, safe to send: complete characters, no partial stop string. */
  text: string;
  /** Set once, on the call that finishes the sequence. */
  finishReason?: DetokenizerFinishReason;
  /** The stop string or stop token id that matched. */
  stopReason?: string | number;
}

/** Incremental detokenizer with stop strings, stop token ids, min_tokens and max_tokens. */
export class Detokenizer {
  readonly #decoder: IncrementalDecoder;
  readonly #stops: StopStringMatcher;
  readonly #stopTokenIds: ReadonlySet<number>;
  readonly #includeStop: boolean;
  readonly #minTokens: number;
  readonly #maxTokens: number;
  #tokenCount = 0;
  #finishReason: DetokenizerFinishReason | undefined;
  #text = "";

  constructor(tokenizer: TokenDecoder, opts: DetokenizerOptions = {}) {
    const decoderOpts: { skipSpecialTokens?: boolean; contextIds?: readonly number[] } = {};
    if (opts.skipSpecialTokens !== undefined) decoderOpts.skipSpecialTokens = opts.skipSpecialTokens;
    if (opts.promptIds !== undefined) decoderOpts.contextIds = opts.promptIds;
    this.#decoder = new IncrementalDecoder(tokenizer, decoderOpts);
    this.#includeStop = opts.includeStopStrInOutput ?? false;
    const stops = opts.stop === undefined ? [] : typeof opts.stop === "string" ? [opts.stop] : opts.stop;
    this.#stops = new StopStringMatcher(stops, this.#includeStop);
    this.#stopTokenIds = new Set(opts.stopTokenIds ?? []);
    this.#minTokens = opts.minTokens ?? 0;
    this.#maxTokens = opts.maxTokens ?? Number.POSITIVE_INFINITY;
  }

  /** Output tokens consumed, including a stop token; tokens after a finish are not counted. */
  get tokenCount(): number {
    return this.#tokenCount;
  }

  get finishReason(): DetokenizerFinishReason | undefined {
    return this.#finishReason;
  }

  /** All text emitted so far. */
  get text(): string {
    return this.#text;
  }

  /** Feeds generated token ids; ids arriving after the sequence finished are ignored. */
  push(ids: readonly number[]): DetokenizerOutput {
    let text = "";
    for (const id of ids) {
      if (this.#finishReason) break;
      this.#tokenCount++;
      // A stop token is itself an output token, so it may end the sequence once min_tokens others precede it.
      if (this.#stopTokenIds.has(id) && this.#tokenCount > this.#minTokens) {
        if (this.#includeStop) text += this.#stops.push(this.#decoder.push(id), false).text;
        return this.#finish(text, "stop", id);
      }
      const step = this.#stops.push(this.#decoder.push(id), this.#tokenCount >= this.#minTokens);
      text += step.text;
      if (step.stop !== undefined) return this.#finish(text, "stop", step.stop, false);
      if (this.#tokenCount >= this.#maxTokens) return this.#finish(text, "length");
    }
    return this.#emit({ text });
  }

  /** The engine ended the stream: releases held-back text. */
  flush(): DetokenizerOutput {
    if (this.#finishReason) return { text: "" };
    return this.#emit({ text: this.#release() });
  }

  #finish(text: string, reason: DetokenizerFinishReason, stopReason?: string | number, release = true) {
    this.#finishReason = reason;
    const out: DetokenizerOutput = { text: release ? text + this.#release() : text, finishReason: reason };
    if (stopReason !== undefined) out.stopReason = stopReason;
    return this.#emit(out);
  }

  #release(): string {
    return this.#stops.push(this.#decoder.flush(), false).text;
  }

  #emit(out: DetokenizerOutput): DetokenizerOutput {
    this.#text += out.text;
    return out;
  }
}
