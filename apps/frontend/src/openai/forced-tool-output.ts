import type { ChatOutputDelta } from "@kvasir/llm";
import { type ForcedToolChoice, parseForcedToolCalls } from "./structured.js";

/**
 * The output of a forced tool choice (Responses' required/named function, Anthropic's any/tool), with the output
 * parser's interface: JSON in the constraint's shape (not the model's tool-call syntax) held to the end and read
 * back as tool calls; text that is not complete JSON (cut by the token limit) stays text.
 */
export class ForcedToolOutput {
  #text = "";

  constructor(
    private readonly forced: ForcedToolChoice,
    private readonly newId: () => string,
  ) {}

  push(text: string): ChatOutputDelta {
    this.#text += text;
    return { reasoningContent: "", content: "", toolCalls: [] };
  }

  flush(): ChatOutputDelta {
    const toolCalls = parseForcedToolCalls(this.#text, this.forced, this.newId);
    return { reasoningContent: "", content: toolCalls.length > 0 ? "" : this.#text, toolCalls };
  }
}
