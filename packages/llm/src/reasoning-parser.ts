import { partialMatchLength } from "./partial-match.js";

export interface ReasoningDelta {
  reasoning: string;
  content: string;
}

export interface ReasoningParserOptions {
  startTag?: string;
  endTag?: string;
  /** Alternatives to `startTag` / `endTag` (Granite writes "Here is" or "Here's"); the first to match counts. */
  startTags?: readonly string[];
  endTags?: readonly string[];
  /**
   * The prompt already opened the reasoning block (DeepSeek-R1 style templates end the prompt with `<think>`),
   * so output is reasoning until the end tag. See `promptOpensReasoning`.
   */
  startInReasoning?: boolean;
}

type State = "start" | "reasoning" | "content";

/**
 * Splits streamed model output into reasoning (inside `<think>...</think>`) and content (Qwen3 / DeepSeek-R1).
 * A reasoning block is recognised only at the start of the output; tag fragments are held back until they
 * resolve. Newlines around the tags are dropped, as the chat templates add them.
 */
export class ReasoningParser {
  readonly #startTags: readonly string[];
  readonly #endTags: readonly string[];
  #state: State;
  #buffer = "";
  #atSectionStart = true;

  constructor(opts: ReasoningParserOptions = {}) {
    this.#startTags = opts.startTags ?? [opts.startTag ?? "<think>"];
    this.#endTags = opts.endTags ?? [opts.endTag ?? "</think>"];
    this.#state = opts.startInReasoning ? "reasoning" : "start";
  }

  push(text: string): ReasoningDelta {
    this.#buffer += text;
    const out: ReasoningDelta = { reasoning: "", content: "" };
    if (this.#state === "start") {
      const trimmed = this.#buffer.trimStart();
      const tag = this.#startTags.find((t) => trimmed.startsWith(t));
      if (tag !== undefined) {
        this.#buffer = trimmed.slice(tag.length);
        this.#enter("reasoning");
      } else if (this.#startTags.some((t) => t.startsWith(trimmed))) {
        return out;
      } else {
        this.#enter("content");
        this.#atSectionStart = false;
      }
    }
    if (this.#state === "reasoning") {
      const [end, endTag] = firstOf(this.#buffer, this.#endTags);
      if (end < 0) {
        // Hold a possible end-tag fragment and the newlines before it, which are dropped if the tag follows.
        let keep = partialMatchLength(this.#buffer, this.#endTags);
        while (this.#buffer[this.#buffer.length - keep - 1] === "\n") keep++;
        out.reasoning = this.#take(this.#buffer.length - keep);
        return out;
      }
      out.reasoning = this.#take(end).replace(/\n+$/, "");
      this.#buffer = this.#buffer.slice(endTag.length);
      this.#enter("content");
    }
    out.content = this.#take(this.#buffer.length);
    return out;
  }

  /** End of output: whatever is held back belongs to the current section. */
  flush(): ReasoningDelta {
    const rest = this.#buffer;
    this.#buffer = "";
    return this.#state === "reasoning" ? { reasoning: rest, content: "" } : { reasoning: "", content: rest };
  }

  #enter(state: State): void {
    this.#state = state;
    this.#atSectionStart = true;
  }

  // Removes `count` characters from the buffer, dropping newlines that open a section.
  #take(count: number): string {
    let text = this.#buffer.slice(0, count);
    this.#buffer = this.#buffer.slice(count);
    if (this.#atSectionStart) {
      text = text.replace(/^\n+/, "");
      if (text.length > 0) this.#atSectionStart = false;
    }
    return text;
  }
}

/** Whether a rendered prompt ends inside an open reasoning block (its last start tag is after its last end tag). */
export function promptOpensReasoning(prompt: string, startTag = "<think>", endTag = "</think>"): boolean {
  const start = prompt.lastIndexOf(startTag);
  return start >= 0 && start > prompt.lastIndexOf(endTag);
}

// The earliest occurrence of any of `tags` in `text`: its index (-1 if none) and the tag.
function firstOf(text: string, tags: readonly string[]): [number, string] {
  let best: [number, string] = [-1, ""];
  for (const tag of tags) {
    const at = text.indexOf(tag);
    if (at >= 0 && (best[0] < 0 || at < best[0])) best = [at, tag];
  }
  return best;
}
