import { ReasoningParser } from "./reasoning-parser.js";
import { type ToolCall, ToolCallParser } from "./tool-call-parser.js";

/** Names accepted by `--dyn-reasoning-parser` / `--dyn-tool-call-parser`. */
export const REASONING_PARSERS = ["qwen3", "deepseek_r1"] as const;
export const TOOL_CALL_PARSERS = ["hermes"] as const;
export type ReasoningParserName = (typeof REASONING_PARSERS)[number];
export type ToolCallParserName = (typeof TOOL_CALL_PARSERS)[number];

export interface ChatOutputParserOptions {
  reasoningParser?: ReasoningParserName;
  toolCallParser?: ToolCallParserName;
  /**
   * Whether the rendered prompt left a reasoning block open (`promptOpensReasoning(prompt)`). Defaults: false
   * for qwen3 (the model writes `<think>` itself), true for deepseek_r1 (its template ends with `<think>`).
   */
  promptOpensReasoning?: boolean;
  newToolCallId?: () => string;
}

/** One step of parsed assistant output, in OpenAI chat-completions terms. */
export interface ChatOutputDelta {
  reasoningContent: string;
  content: string;
  toolCalls: ToolCall[];
}

/** Reasoning first, then tool calls on what remains as content; either stage is optional. */
export class ChatOutputParser {
  readonly #reasoning: ReasoningParser | undefined;
  readonly #tools: ToolCallParser | undefined;

  constructor(opts: ChatOutputParserOptions = {}) {
    if (opts.reasoningParser) {
      const opensByDefault = opts.reasoningParser === "deepseek_r1";
      this.#reasoning = new ReasoningParser({
        startInReasoning: opts.promptOpensReasoning ?? opensByDefault,
      });
    }
    if (opts.toolCallParser) {
      this.#tools = new ToolCallParser(opts.newToolCallId ? { newId: opts.newToolCallId } : {});
    }
  }

  get toolCallCount(): number {
    return this.#tools?.toolCallCount ?? 0;
  }

  push(text: string): ChatOutputDelta {
    const split = this.#reasoning ? this.#reasoning.push(text) : { reasoning: "", content: text };
    return this.#toolStage(split.reasoning, split.content, false);
  }

  flush(): ChatOutputDelta {
    const split = this.#reasoning ? this.#reasoning.flush() : { reasoning: "", content: "" };
    return this.#toolStage(split.reasoning, split.content, true);
  }

  #toolStage(reasoningContent: string, content: string, end: boolean): ChatOutputDelta {
    if (!this.#tools) return { reasoningContent, content, toolCalls: [] };
    const step = this.#tools.push(content);
    if (!end) return { reasoningContent, content: step.content, toolCalls: step.toolCalls };
    const last = this.#tools.flush();
    return {
      reasoningContent,
      content: step.content + last.content,
      toolCalls: [...step.toolCalls, ...last.toolCalls],
    };
  }
}
