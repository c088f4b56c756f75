import { jsonValueEnd, tryParseJson } from "../json-scan.js";
import { partialMatchLength } from "../partial-match.js";
import { namedCall, type ToolCallDelta, type ToolCallStreamParser, toolCall } from "../tool-call-parser.js";

const TOOL_CALLS = "[TOOL_CALLS]";
const END = "[/TOOL_CALLS]";
const ARGS = "[ARGS]";
const CALL_ID = "[CALL_ID]";
// A function name, then optionally [CALL_ID]<id>, then [ARGS] (Mistral's tokenizer v11+ format).
const NAMED = /^([A-Za-z0-9_.-]+)(?:\[CALL_ID\]([A-Za-z0-9]+))?\[ARGS\]/;

/** Mistral's API takes tool-call ids of exactly nine letters and digits (vLLM generates them the same way). */
export function mistralToolCallId(): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  let id = "";
  for (let i = 0; i < 9; i++) id += alphabet[Math.floor(Math.random() * alphabet.length)];
  return id;
}

type State = "content" | "section" | "array";

/**
 * Mistral tool calls (`mistral`): `[TOOL_CALLS]` then a JSON array of `{"name", "arguments"}` objects (tokenizer
 * v3, Mistral-7B-Instruct-v0.3 and Mistral Small), or `[TOOL_CALLS]name[ARGS]{...}` per call (tokenizer v11+,
 * Magistral/Devstral). `[/TOOL_CALLS]` closes the section when a model writes it. Each call is emitted as soon
 * as its JSON closes. Needs the special tokens in the text (`[TOOL_CALLS]` is a control token).
 */
export class MistralToolParser implements ToolCallStreamParser {
  readonly #newId: () => string;
  #state: State = "content";
  #buffer = "";
  #count = 0;

  constructor(opts: { newId?: () => string } = {}) {
    this.#newId = opts.newId ?? mistralToolCallId;
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
    // What is left is an unfinished call: content as written.
    if (this.#state !== "content" && this.#buffer.trim() !== "") out.content += this.#buffer;
    this.#buffer = "";
    return out;
  }

  // One move of the state machine; false when it needs more text.
  #step(out: ToolCallDelta, final: boolean): boolean {
    if (this.#state === "content") {
      const start = this.#buffer.indexOf(TOOL_CALLS);
      if (start >= 0) {
        out.content += this.#buffer.slice(0, start);
        this.#buffer = this.#buffer.slice(start + TOOL_CALLS.length);
        this.#state = "section";
        return true;
      }
      const emit = final
        ? this.#buffer.length
        : this.#buffer.length - partialMatchLength(this.#buffer, [TOOL_CALLS]);
      out.content += this.#buffer.slice(0, emit);
      this.#buffer = this.#buffer.slice(emit);
      return false;
    }
    const rest = this.#buffer.replace(this.#state === "array" ? /^[\s,]+/ : /^\s+/, "");
    if (rest === "") return false;
    for (const marker of [TOOL_CALLS, END]) {
      if (rest.startsWith(marker)) {
        this.#buffer = rest.slice(marker.length);
        this.#state = marker === END ? "content" : "section";
        return true;
      }
      if (!final && marker.startsWith(rest)) return false;
    }
    if (this.#state === "array" && rest.startsWith("]")) {
      this.#buffer = rest.slice(1);
      this.#state = "content";
      return true;
    }
    if (this.#state === "section" && rest.startsWith("[")) {
      this.#buffer = rest.slice(1);
      this.#state = "array";
      return true;
    }
    if (rest.startsWith("{")) {
      const end = jsonValueEnd(rest);
      if (end < 0) return false;
      const call = namedCall(tryParseJson(rest.slice(0, end))?.value);
      if (!call) return this.#giveUp(rest);
      out.toolCalls.push(toolCall(this.#count++, this.#newId(), call.name, call.args));
      this.#buffer = rest.slice(end);
      return true;
    }
    const named = NAMED.exec(rest);
    if (named?.[1]) {
      const argsAt = named[0].length;
      if (rest.length === argsAt) return false;
      const end = rest[argsAt] === "{" || rest[argsAt] === "[" ? jsonValueEnd(rest, argsAt) : -1;
      if (end < 0) return rest[argsAt] === "{" || rest[argsAt] === "[" ? false : this.#giveUp(rest);
      const args = tryParseJson(rest.slice(argsAt, end));
      if (!args) return this.#giveUp(rest);
      out.toolCalls.push(toolCall(this.#count++, named[2] ?? this.#newId(), named[1], args.value));
      this.#buffer = rest.slice(end);
      return true;
    }
    if (!final && mayBecomeNamed(rest)) return false;
    return this.#giveUp(rest);
  }

  // Text in the calls section that is not a call: the rest of the output is content, as written.
  #giveUp(rest: string): boolean {
    this.#buffer = rest;
    this.#state = "content";
    return true;
  }
}

// Whether more text could still make `rest` a `name[CALL_ID]id[ARGS]` head.
function mayBecomeNamed(rest: string): boolean {
  let tail = rest.replace(/^[A-Za-z0-9_.-]*/, "");
  if (ARGS.startsWith(tail) || CALL_ID.startsWith(tail)) return true;
  if (!tail.startsWith(CALL_ID)) return false;
  tail = tail.slice(CALL_ID.length).replace(/^[A-Za-z0-9]*/, "");
  return ARGS.startsWith(tail);
}
