import { GptOssReasoningParser } from "./gpt-oss-reasoning.js";
import { type ReasoningDelta, ReasoningParser } from "./reasoning-parser.js";
import { type ToolCall, ToolCallParser, type ToolCallStreamParser } from "./tool-call-parser.js";
import { DeepSeekToolParser } from "./tool-parsers/deepseek.js";
import { HarmonyToolParser } from "./tool-parsers/harmony.js";
import { KimiK2ToolParser } from "./tool-parsers/kimi-k2.js";
import { Llama3JsonToolParser } from "./tool-parsers/llama3-json.js";
import { MistralToolParser } from "./tool-parsers/mistral.js";
import { PythonicToolParser } from "./tool-parsers/pythonic.js";

/** Names accepted by `--dyn-reasoning-parser` / `--dyn-tool-call-parser` (Dynamo's names, lib/parsers). */
export const REASONING_PARSERS = [
  "qwen3",
  "deepseek_r1",
  "basic",
  "nemotron_deci",
  "glm45",
  "nemotron_nano",
  "step3",
  "kimi",
  "kimi_k25",
  "mistral",
  "granite",
  "gpt_oss",
] as const;
export const TOOL_CALL_PARSERS = [
  "hermes",
  "qwen25",
  "llama3_json",
  "mistral",
  "pythonic",
  "deepseek_v3",
  "deepseek_v3_1",
  "harmony",
  "kimi_k2",
  "nemotron_deci",
  "jamba",
] as const;
export type ReasoningParserName = (typeof REASONING_PARSERS)[number];
export type ToolCallParserName = (typeof TOOL_CALL_PARSERS)[number];

export interface ChatOutputParserOptions {
  reasoningParser?: ReasoningParserName;
  toolCallParser?: ToolCallParserName;
  /**
   * Whether the rendered prompt left a reasoning block open (`promptOpensReasoning(prompt)`). Defaults: true
   * for the parsers whose templates end the prompt inside the block (deepseek_r1 and the like), else false.
   */
  promptOpensReasoning?: boolean;
  /**
   * Dynamo's `--enable-streaming-tool-dispatch`: each tool call is returned by the `push` that completes it, so a
   * client can start running it while the model goes on. Off: calls are held and returned by `flush`.
   */
  streamingToolDispatch?: boolean;
  newToolCallId?: () => string;
}

/** One step of parsed assistant output, in OpenAI chat-completions terms. */
export interface ChatOutputDelta {
  reasoningContent: string;
  content: string;
  toolCalls: ToolCall[];
}

interface ReasoningStage {
  push(text: string): ReasoningDelta;
  flush(): ReasoningDelta;
}

// Parsers whose chat templates end the prompt inside the reasoning block (Dynamo's force_reasoning).
const OPENS_IN_REASONING: ReadonlySet<ReasoningParserName> = new Set([
  "deepseek_r1",
  "nemotron_nano",
  "step3",
  "kimi_k25",
  "mistral",
]);

function reasoningStage(name: ReasoningParserName, opensInReasoning: boolean | undefined): ReasoningStage {
  const startInReasoning = opensInReasoning ?? OPENS_IN_REASONING.has(name);
  switch (name) {
    case "gpt_oss":
      return new GptOssReasoningParser();
    case "kimi":
      // Kimi-VL-Thinking / k1.5 mark reasoning with ◁think▷ ... ◁/think▷.
      return new ReasoningParser({ startTag: "◁think▷", endTag: "◁/think▷", startInReasoning });
    case "mistral":
      return new ReasoningParser({ startTag: "[THINK]", endTag: "[/THINK]", startInReasoning });
    case "granite":
      // Granite 3.2 writes its reasoning after a sentence rather than a tag (both phrasings occur).
      return new ReasoningParser({
        startTags: ["Here is my thought process:", "Here's my thought process:"],
        endTags: ["Here is my response:", "Here's my response:"],
        startInReasoning,
      });
    default:
      return new ReasoningParser({ startInReasoning });
  }
}

/** The tool-call parser named `name` (Dynamo's names). */
export function createToolCallParser(
  name: ToolCallParserName,
  opts: { newId?: () => string } = {},
): ToolCallStreamParser {
  switch (name) {
    case "hermes":
    case "qwen25":
      return new ToolCallParser(opts);
    case "llama3_json":
      return new Llama3JsonToolParser(opts);
    case "mistral":
      return new MistralToolParser(opts);
    case "pythonic":
      return new PythonicToolParser(opts);
    case "deepseek_v3":
      return new DeepSeekToolParser("v3", opts);
    case "deepseek_v3_1":
      return new DeepSeekToolParser("v3_1", opts);
    case "harmony":
      return new HarmonyToolParser(opts);
    case "kimi_k2":
      return new KimiK2ToolParser(opts);
    case "nemotron_deci":
      // Llama-3.x-Nemotron: `<TOOLCALL>[{"name": ..., "arguments": ...}, ...]</TOOLCALL>`.
      return new ToolCallParser({ ...opts, startTag: "<TOOLCALL>", endTag: "</TOOLCALL>" });
    case "jamba":
      // AI21 Jamba: `<tool_calls>[{"name": ..., "arguments": ...}]</tool_calls>`.
      return new ToolCallParser({ ...opts, startTag: "<tool_calls>", endTag: "</tool_calls>" });
  }
}

/**
 * Whether these parsers read markers that are special tokens (Harmony's `<|channel|>`, Mistral's `[TOOL_CALLS]`),
 * so the output must be detokenized with special tokens kept (as vLLM's parsers ask for).
 */
export function parsersNeedSpecialTokens(
  opts: Pick<ChatOutputParserOptions, "reasoningParser" | "toolCallParser">,
): boolean {
  return (
    opts.reasoningParser === "gpt_oss" ||
    opts.toolCallParser === "harmony" ||
    opts.toolCallParser === "mistral" ||
    opts.toolCallParser === "kimi_k2"
  );
}

/** Reasoning first, then tool calls on what remains as content; either stage is optional. */
export class ChatOutputParser {
  readonly #reasoning: ReasoningStage | undefined;
  readonly #tools: ToolCallStreamParser | undefined;
  readonly #dispatch: boolean;
  // Calls held until the end when streaming dispatch is off.
  #held: ToolCall[] = [];

  constructor(opts: ChatOutputParserOptions = {}) {
    if (opts.reasoningParser)
      this.#reasoning = reasoningStage(opts.reasoningParser, opts.promptOpensReasoning);
    if (opts.toolCallParser) {
      this.#tools = createToolCallParser(
        opts.toolCallParser,
        opts.newToolCallId ? { newId: opts.newToolCallId } : {},
      );
    }
    this.#dispatch = opts.streamingToolDispatch ?? false;
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
    const last = end ? this.#tools.flush() : { content: "", toolCalls: [] };
    const calls = [...step.toolCalls, ...last.toolCalls];
    let toolCalls = calls;
    if (!this.#dispatch) {
      this.#held.push(...calls);
      toolCalls = end ? this.#held : [];
    }
    return { reasoningContent, content: step.content + last.content, toolCalls };
  }
}
