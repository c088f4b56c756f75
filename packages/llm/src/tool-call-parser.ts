import { randomUUID } from "node:crypto";
import { isRecord } from "./json.js";
import { partialMatchLength } from "./partial-match.js";

/** An OpenAI chat-completions tool call (`index` is its position among the message's calls). */
export interface ToolCall {
  index: number;
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ToolCallDelta {
  content: string;
  toolCalls: ToolCall[];
}

/**
 * A streaming tool-call parser: `push` takes the next piece of content and returns the content that is surely
 * not part of a call plus every call completed by it; `flush` ends the output. Every model format implements it.
 */
export interface ToolCallStreamParser {
  /** Tool calls emitted so far (the finish reason becomes "tool_calls" when non-zero). */
  readonly toolCallCount: number;
  push(text: string): ToolCallDelta;
  flush(): ToolCallDelta;
}

/** OpenAI-style tool-call ids: `call_` + 24 random hex digits. */
export const openAIToolCallId = (): string => `call_${randomUUID().replaceAll("-", "").slice(0, 24)}`;

/** A call from a parsed name and arguments; arguments that are not already a string are serialised as JSON. */
export function toolCall(index: number, id: string, name: string, args: unknown): ToolCall {
  const text = typeof args === "string" ? args : JSON.stringify(args ?? {});
  return { index, id, type: "function", function: { name, arguments: text } };
}

/** `{"name": ..., "arguments"|"parameters": ...}` as a name and arguments, or undefined when it is not a call. */
export function namedCall(value: unknown): { name: string; args: unknown } | undefined {
  if (!isRecord(value) || typeof value.name !== "string" || value.name.length === 0) return undefined;
  return { name: value.name, args: value.arguments ?? value.parameters ?? {} };
}

export interface ToolCallParserOptions {
  startTag?: string;
  endTag?: string;
  /** Tool-call id factory; default `call_` + 24 random hex digits. */
  newId?: () => string;
}

/**
 * Extracts Hermes / Qwen3 style tool calls (`<tool_call>{"name": ..., "arguments": {...}}</tool_call>`) from
 * streamed content. Text outside the tags is content; a call is emitted whole once its end tag arrives. A body
 * that is not a valid call is passed through as content. Whitespace between calls is dropped.
 */
export class ToolCallParser implements ToolCallStreamParser {
  readonly #startTag: string;
  readonly #endTag: string;
  readonly #newId: () => string;
  #inside = false;
  #buffer = "";
  #count = 0;

  constructor(opts: ToolCallParserOptions = {}) {
    this.#startTag = opts.startTag ?? "<tool_call>";
    this.#endTag = opts.endTag ?? "</tool_call>";
    this.#newId = opts.newId ?? openAIToolCallId;
  }

  /** Tool calls emitted so far (the finish reason becomes "tool_calls" when non-zero). */
  get toolCallCount(): number {
    return this.#count;
  }

  push(text: string): ToolCallDelta {
    this.#buffer += text;
    const out: ToolCallDelta = { content: "", toolCalls: [] };
    for (;;) {
      if (this.#inside) {
        const end = this.#buffer.indexOf(this.#endTag);
        if (end < 0) return out;
        this.#complete(this.#buffer.slice(0, end), out);
        this.#buffer = this.#buffer.slice(end + this.#endTag.length);
        this.#inside = false;
        continue;
      }
      const start = this.#buffer.indexOf(this.#startTag);
      if (start >= 0) {
        if (!this.#isGap(this.#buffer.slice(0, start))) out.content += this.#buffer.slice(0, start);
        this.#buffer = this.#buffer.slice(start + this.#startTag.length);
        this.#inside = true;
        continue;
      }
      const emit = this.#buffer.length - partialMatchLength(this.#buffer, [this.#startTag]);
      // Whitespace after a call stays held until text that is not whitespace follows it.
      if (!this.#isGap(this.#buffer.slice(0, emit))) {
        out.content += this.#buffer.slice(0, emit);
        this.#buffer = this.#buffer.slice(emit);
      }
      return out;
    }
  }

  /** End of output: an unterminated call is parsed if its body is complete JSON, else returned as content. */
  flush(): ToolCallDelta {
    const out: ToolCallDelta = { content: "", toolCalls: [] };
    if (this.#inside) this.#complete(this.#buffer, out, false);
    else if (!this.#isGap(this.#buffer)) out.content = this.#buffer;
    this.#buffer = "";
    this.#inside = false;
    return out;
  }

  // Whitespace-only text after a call separates calls; it is not content.
  #isGap(text: string): boolean {
    return this.#count > 0 && text.trim().length === 0;
  }

  #complete(body: string, out: ToolCallDelta, closed = true): void {
    const calls = parseCalls(body);
    if (!calls) {
      out.content += this.#startTag + body + (closed ? this.#endTag : "");
      return;
    }
    for (const call of calls)
      out.toolCalls.push(toolCall(this.#count++, this.#newId(), call.name, call.args));
  }
}

// One call object, or a list of them (Nemotron's and Jamba's tags hold a JSON array); undefined if any is not one.
function parseCalls(body: string): { name: string; args: unknown }[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  const calls = items.map(namedCall);
  if (calls.length === 0 || calls.some((call) => call === undefined)) return undefined;
  return calls.filter((call) => call !== undefined);
}
