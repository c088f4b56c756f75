import { partialMatchLength } from "./partial-match.js";

/**
 * Applies stop strings to streamed text. Text that could be the start of a stop string is held back, so a
 * partial stop string is never emitted; on a match the text is cut at the stop string (or after it, when the
 * stop string is to be included).
 */
export class StopStringMatcher {
  readonly #stops: readonly string[];
  readonly #includeStop: boolean;
  #pending = "";

  constructor(stops: readonly string[], includeStop = false) {
    this.#stops = stops.filter((s) => s.length > 0);
    this.#includeStop = includeStop;
  }

  /** Adds text; `active` false (before min_tokens) emits it unchecked. */
  push(text: string, active = true): { text: string; stop?: string } {
    this.#pending += text;
    if (this.#stops.length === 0 || !active) return { text: this.flush() };
    let matchAt = -1;
    let matched = "";
    for (const stop of this.#stops) {
      const at = this.#pending.indexOf(stop);
      if (at >= 0 && (matchAt < 0 || at < matchAt || (at === matchAt && stop.length > matched.length))) {
        matchAt = at;
        matched = stop;
      }
    }
    if (matchAt >= 0) {
      const out = this.#pending.slice(0, matchAt + (this.#includeStop ? matched.length : 0));
      this.#pending = "";
      return { text: out, stop: matched };
    }
    const emit = this.#pending.length - partialMatchLength(this.#pending, this.#stops);
    const out = this.#pending.slice(0, emit);
    this.#pending = this.#pending.slice(emit);
    return { text: out };
  }

  /** Releases held-back text (the stream ended without completing a stop string). */
  flush(): string {
    const out = this.#pending;
    this.#pending = "";
    return out;
  }
}
