import { Template } from "@huggingface/jinja";
import { isRecord } from "./json.js";
import type { SpecialTokenStrings } from "./tokenizer.js";

/** An OpenAI-style content part; only `text` parts can be flattened for string-content templates. */
export interface ChatContentPart {
  type: string;
  text?: string;
  [key: string]: unknown;
}

export interface ChatTemplateMessage {
  role: string;
  content?: string | ChatContentPart[] | null;
  [key: string]: unknown;
}

export interface ChatTemplateInput {
  messages: readonly ChatTemplateMessage[];
  /** OpenAI tool definitions, passed to the template as `tools`. */
  tools?: readonly unknown[];
  addGenerationPrompt?: boolean;
  /** Extra template variables, e.g. `{ enable_thinking: false }` for Qwen3 (OpenAI `chat_template_kwargs`). */
  kwargs?: Record<string, unknown>;
}

/**
 * How a template reads `message.content`: "string" templates concatenate it as text, so content-part arrays are
 * flattened; "openai" templates iterate over the parts themselves.
 */
export type ContentFormat = "string" | "openai";

export class ChatTemplateError extends Error {
  override name = "ChatTemplateError";
}

// A template that loops over a message's content (`for part in message.content` / `message['content']`)
// expects OpenAI content parts.
const ITERATES_CONTENT = /\{%-?\s*for\s+\w+\s+in\s+\w+(?:\.content|\[\s*['"]content['"]\s*\])/;

export function detectContentFormat(source: string): ContentFormat {
  return ITERATES_CONTENT.test(source) ? "openai" : "string";
}

/** A parsed chat template, rendered per request. */
export class ChatTemplate {
  readonly contentFormat: ContentFormat;
  readonly #template: Template;
  readonly #specialTokens: SpecialTokenStrings;

  constructor(source: string, specialTokens: SpecialTokenStrings = {}, contentFormat?: ContentFormat) {
    try {
      this.#template = new Template(source);
    } catch (err) {
      throw new ChatTemplateError(`invalid chat template: ${(err as Error).message}`);
    }
    this.#specialTokens = specialTokens;
    this.contentFormat = contentFormat ?? detectContentFormat(source);
  }

  render(input: ChatTemplateInput): string {
    const context: Record<string, unknown> = {
      ...this.#specialTokens,
      ...input.kwargs,
      messages: input.messages.map((m) => this.#prepareMessage(m)),
      add_generation_prompt: input.addGenerationPrompt ?? false,
    };
    // Templates test `{% if tools %}`; an absent variable must stay undefined, not an empty list.
    if (input.tools && input.tools.length > 0) context.tools = input.tools;
    try {
      return this.#template.render(context);
    } catch (err) {
      throw new ChatTemplateError(`chat template failed: ${(err as Error).message}`);
    }
  }

  #prepareMessage(message: ChatTemplateMessage): Record<string, unknown> {
    const out: Record<string, unknown> = { ...message };
    if (this.contentFormat === "string") out.content = flattenContent(message.content);
    else if (typeof message.content === "string") out.content = [{ type: "text", text: message.content }];
    else out.content = message.content ?? [];
    if (Array.isArray(message.tool_calls)) out.tool_calls = message.tool_calls.map(parseToolCallArguments);
    return out;
  }
}

/** Joins text parts with newlines; a null or missing content becomes "". */
export function flattenContent(content: string | readonly ChatContentPart[] | null | undefined): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  return content
    .map((part) => {
      if (part.type !== "text" || typeof part.text !== "string") {
        throw new ChatTemplateError(`content part of type "${part.type}" is not supported by this model`);
      }
      return part.text;
    })
    .join("\n");
}

// OpenAI sends tool-call arguments as a JSON string; templates render them with `| tojson`, so they expect an object.
function parseToolCallArguments(call: unknown): unknown {
  if (!isRecord(call) || !isRecord(call.function) || typeof call.function.arguments !== "string") return call;
  try {
    const args: unknown = JSON.parse(call.function.arguments);
    return isRecord(args) ? { ...call, function: { ...call.function, arguments: args } } : call;
  } catch {
    return call;
  }
}
