import { partialMatchLength } from "../partial-match.js";
import {
  openAIToolCallId,
  type ToolCallDelta,
  type ToolCallStreamParser,
  toolCall,
} from "../tool-call-parser.js";

/** A call read from the text between a call's markers; `id` when the format names its calls itself. */
export interface SectionCall {
  name: string;
  args: unknown;
  id?: string;
}

/** Markers of a format whose calls sit in a section: `BEGIN (CALL_BEGIN body CALL_END)* END`. */
export interface SectionFormat {
  sectionBegin: readonly string[];
  sectionEnd: readonly string[];
  callBegin: string;
  callEnd: string;
  /** The call in a body (between the call markers), or undefined when it is none (it is then dropped). */
  parseBody(body: string, index: number): SectionCall | undefined;
}

/**
 * Tool calls in a marked section (DeepSeek's, Kimi K2's): text before the section is content; inside it, each
 * call is emitted at its end marker; text after the section is content again. At the output's end an unclosed
 * last call is still read (its end marker may be a stop token).
 */
export class SectionToolParser implements ToolCallStreamParser {
  readonly #newId: () => string;
  #inSection = false;
  #buffer = "";
  #count = 0;

  constructor(
    private readonly format: SectionFormat,
    opts: { newId?: () => string } = {},
  ) {
    this.#newId = opts.newId ?? openAIToolCallId;
  }

  get toolCallCount(): number {
    return this.#count;
  }

  push(text: string): ToolCallDelta {
    this.#buffer += text;
    const out: ToolCallDelta = { content: "", toolCalls: [] };
    while (this.#step(out, false)) {}
    return out;
  }

  flush(): ToolCallDelta {
    const out: ToolCallDelta = { content: "", toolCalls: [] };
    while (this.#step(out, true)) {}
    if (this.#inSection) {
      const rest = this.#buffer.trimStart();
      if (rest.startsWith(this.format.callBegin)) this.#call(rest.slice(this.format.callBegin.length), out);
    } else out.content += this.#buffer;
    this.#buffer = "";
    return out;
  }

  #step(out: ToolCallDelta, final: boolean): boolean {
    const { sectionBegin, sectionEnd, callBegin, callEnd } = this.format;
    if (!this.#inSection) {
      const [start, marker] = earliest(this.#buffer, sectionBegin);
      if (start >= 0) {
        out.content += this.#buffer.slice(0, start);
        this.#buffer = this.#buffer.slice(start + marker.length);
        this.#inSection = true;
        return true;
      }
      const hold = final ? 0 : partialMatchLength(this.#buffer, sectionBegin);
      out.content += this.#buffer.slice(0, this.#buffer.length - hold);
      this.#buffer = this.#buffer.slice(this.#buffer.length - hold);
      return false;
    }
    const rest = this.#buffer.trimStart();
    const end = sectionEnd.find((marker) => rest.startsWith(marker));
    if (end !== undefined) {
      this.#buffer = rest.slice(end.length);
      this.#inSection = false;
      return true;
    }
    if (rest.startsWith(callBegin)) {
      const close = rest.indexOf(callEnd);
      if (close < 0) return false;
      this.#call(rest.slice(callBegin.length, close), out);
      this.#buffer = rest.slice(close + callEnd.length);
      return true;
    }
    const markers = [...sectionEnd, callBegin];
    if (rest === "" || (!final && markers.some((marker) => marker.startsWith(rest)))) return false;
    // Text inside the section that is no call: the section is over and the text is content.
    this.#buffer = rest;
    this.#inSection = false;
    return true;
  }

  #call(body: string, out: ToolCallDelta): void {
    const call = this.format.parseBody(body, this.#count);
    if (call) out.toolCalls.push(toolCall(this.#count++, call.id ?? this.#newId(), call.name, call.args));
  }
}

// The earliest occurrence of any of `markers`: its index (-1 if none) and the marker.
function earliest(text: string, markers: readonly string[]): [number, string] {
  let best: [number, string] = [-1, ""];
  for (const marker of markers) {
    const at = text.indexOf(marker);
    if (at >= 0 && (best[0] < 0 || at < best[0])) best = [at, marker];
  }
  return best;
}
