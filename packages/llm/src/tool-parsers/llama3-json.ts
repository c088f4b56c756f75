import { jsonValueEnd, tryParseJson } from "../json-scan.js";
import {
  namedCall,
  openAIToolCallId,
  type ToolCallDelta,
  type ToolCallStreamParser,
  toolCall,
} from "../tool-call-parser.js";

const PYTHON_TAG = "<|python_tag|>";

type State = "start" | "calls" | "content";

/**
 * Llama 3.1/3.2 JSON tool calls (`llama3_json`): the output is one or more `{"name": ..., "parameters": {...}}`
 * objects, optionally after `<|python_tag|>`, separated by `;` (the format of Llama's chat template and vLLM's
 * llama3_json parser). Output that does not open with a call is content. Each call is emitted when its object
 * closes; an object that is not a call turns the rest into content.
 */
export class Llama3JsonToolParser implements ToolCallStreamParser {
  readonly #newId: () => string;
  #state: State = "start";
  #buffer = "";
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
    for (;;) {
      if (this.#state === "content") {
        out.content += this.#buffer;
        this.#buffer = "";
        return out;
      }
      // Before the first call and between calls: whitespace, `;` and python tags are skipped.
      const rest = this.#buffer.replace(this.#state === "start" ? /^\s+/ : /^[\s;]+/, "");
      if (rest.startsWith(PYTHON_TAG)) {
        this.#buffer = rest.slice(PYTHON_TAG.length);
        this.#state = "calls";
        continue;
      }
      if (rest === "" || PYTHON_TAG.startsWith(rest)) return out;
      if (!rest.startsWith("{")) {
        this.#state = "content";
        // Text after the last call keeps its separator; text instead of a first call is content as sent.
        if (this.#count === 0) continue;
        this.#buffer = rest;
        continue;
      }
      const end = jsonValueEnd(rest);
      if (end < 0) return out;
      const call = namedCall(tryParseJson(rest.slice(0, end))?.value);
      if (!call) {
        this.#state = "content";
        if (this.#count > 0) this.#buffer = rest;
        continue;
      }
      out.toolCalls.push(toolCall(this.#count++, this.#newId(), call.name, call.args));
      this.#buffer = rest.slice(end);
      this.#state = "calls";
    }
  }

  /** End of output: an unfinished object is content; separators and a dangling tag are not. */
  flush(): ToolCallDelta {
    const buffer = this.#buffer;
    this.#buffer = "";
    if (this.#state === "start") return { content: buffer, toolCalls: [] };
    const rest = buffer.replace(/^[\s;]+/, "");
    return { content: rest.startsWith("{") ? rest : "", toolCalls: [] };
  }
}
