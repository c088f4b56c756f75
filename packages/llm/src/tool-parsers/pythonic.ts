import { PythonLiteralReader, pythonBracketEnd } from "../python-literal.js";
import {
  openAIToolCallId,
  type ToolCallDelta,
  type ToolCallStreamParser,
  toolCall,
} from "../tool-call-parser.js";

const PYTHON_START = "<|python_start|>";
const PYTHON_END = "<|python_end|>";
const CALL_HEAD = /^([A-Za-z_][\w.]*)\s*\(/;

type State = "start" | "calls" | "content";

/**
 * Python-style tool calls (`pythonic`): the output is a list of calls with keyword arguments,
 * `[get_weather(city="Paris"), get_time(tz='CET')]` (Llama 3.2 and Llama 4, which wraps it in
 * `<|python_start|>...<|python_end|>`). Output that does not open with `[` is content. Each call is emitted when
 * its closing parenthesis arrives; text that is not a call ends the list and is content.
 */
export class PythonicToolParser implements ToolCallStreamParser {
  readonly #newId: () => string;
  #state: State = "start";
  #buffer = "";
  // Consumed opening text ("[" and the wrapper), returned as content if no call follows.
  #opening = "";
  #count = 0;

  constructor(opts: { newId?: () => string } = {}) {
    this.#newId = opts.newId ?? openAIToolCallId;
  }

  get toolCallCount(): number {
    return this.#count;
  }

  push(text: string): ToolCallDelta {
    this.#buffer += text;
    const out: ToolCallDelta = { content: "", toolCalls: [] };
    while (this.#step(out)) {}
    return out;
  }

  flush(): ToolCallDelta {
    const out: ToolCallDelta = { content: "", toolCalls: [] };
    const rest = this.#buffer;
    this.#buffer = "";
    if (this.#state === "content" || this.#count === 0) out.content = this.#opening + rest;
    else if (
      rest
        .replace(/^[\s\]]+/, "")
        .replace(PYTHON_END, "")
        .trim() !== ""
    )
      out.content = rest;
    this.#opening = "";
    return out;
  }

  #step(out: ToolCallDelta): boolean {
    if (this.#state === "content") {
      out.content += this.#opening + this.#buffer;
      this.#opening = "";
      this.#buffer = "";
      return false;
    }
    if (this.#state === "start") {
      const rest = this.#buffer.trimStart();
      if (rest.startsWith(PYTHON_START)) {
        this.#opening += this.#buffer.slice(0, this.#buffer.length - rest.length) + PYTHON_START;
        this.#buffer = rest.slice(PYTHON_START.length);
        return true;
      }
      if (rest === "" || PYTHON_START.startsWith(rest)) return false;
      if (!rest.startsWith("[")) {
        this.#state = "content";
        return true;
      }
      this.#opening += this.#buffer.slice(0, this.#buffer.length - rest.length + 1);
      this.#buffer = rest.slice(1);
      this.#state = "calls";
      return true;
    }
    const rest = this.#buffer.replace(/^[\s,]+/, "");
    if (rest === "") return false;
    if (rest.startsWith("]")) {
      if (this.#count === 0) return this.#giveUp(rest);
      // The list is over: a closing wrapper is dropped, anything after it is content.
      let after = rest.slice(1);
      const trimmed = after.trimStart();
      if (PYTHON_END.startsWith(trimmed) && trimmed !== PYTHON_END) return false;
      if (trimmed.startsWith(PYTHON_END)) after = trimmed.slice(PYTHON_END.length);
      this.#buffer = after;
      this.#state = "content";
      return true;
    }
    const head = CALL_HEAD.exec(rest);
    if (!head?.[1]) {
      if (/^[A-Za-z_][\w.]*\s*$/.test(rest)) return false;
      return this.#giveUp(rest);
    }
    const end = pythonBracketEnd(rest, head[0].length - 1);
    if (end < 0) return false;
    let args: Record<string, unknown>;
    try {
      args = new PythonLiteralReader(rest.slice(head[0].length, end - 1)).keywordArguments();
    } catch {
      return this.#giveUp(rest);
    }
    out.toolCalls.push(toolCall(this.#count++, this.#newId(), head[1], args));
    this.#opening = "";
    this.#buffer = rest.slice(end);
    return true;
  }

  // Not a call: everything not yet emitted is content.
  #giveUp(rest: string): boolean {
    this.#buffer = rest;
    this.#state = "content";
    return true;
  }
}
