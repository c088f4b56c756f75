import { tryParseJson } from "../json-scan.js";
import { partialMatchLength } from "../partial-match.js";
import {
  openAIToolCallId,
  type ToolCallDelta,
  type ToolCallStreamParser,
  toolCall,
} from "../tool-call-parser.js";

// DeepSeek's markers use U+FF5C (fullwidth vertical line) and U+2581 (lower one eighth block).
export const DEEPSEEK_CALLS_BEGIN = "<｜tool▁calls▁begin｜>";
export const DEEPSEEK_CALLS_END = "<｜tool▁calls▁end｜>";
export const DEEPSEEK_CALL_BEGIN = "<｜tool▁call▁begin｜>";
export const DEEPSEEK_CALL_END = "<｜tool▁call▁end｜>";
export const DEEPSEEK_SEP = "<｜tool▁sep｜>";

export type DeepSeekVersion = "v3" | "v3_1";

// V3: `function<｜tool▁sep｜>NAME\n```json\nARGS\n```` (DeepSeek-V3 / R1-0528 chat templates).
const V3_BODY = /^\s*(\w+)<｜tool▁sep｜>([^\n]+)\n```(?:json)?\s*\n([\s\S]*?)\n?```\s*$/;
// V3.1: `NAME<｜tool▁sep｜>ARGS` (DeepSeek-V3.1 chat template).
const V31_BODY = /^\s*([^\n<]+?)<｜tool▁sep｜>([\s\S]*)$/;

function parseBody(version: DeepSeekVersion, body: string): { name: string; args: unknown } | undefined {
  const match = version === "v3" ? V3_BODY.exec(body) : V31_BODY.exec(body);
  const name = (version === "v3" ? match?.[2] : match?.[1])?.trim();
  const args = version === "v3" ? match?.[3] : match?.[2];
  if (!name || args === undefined) return undefined;
  const parsed = tryParseJson(args.trim());
  return parsed ? { name, args: parsed.value } : undefined;
}

/**
 * DeepSeek tool calls (`deepseek_v3`, `deepseek_v3_1`): a `<｜tool▁calls▁begin｜>` section holding
 * `<｜tool▁call▁begin｜>...<｜tool▁call▁end｜>` calls, closed by `<｜tool▁calls▁end｜>`. V3 writes the type, the
 * name and the arguments in a fenced JSON block; V3.1 the name and the JSON. Each call is emitted at its end
 * marker; a call whose body does not parse is dropped (its markers are not content).
 */
export class DeepSeekToolParser implements ToolCallStreamParser {
  readonly #newId: () => string;
  #inSection = false;
  #buffer = "";
  #count = 0;

  constructor(
    private readonly version: DeepSeekVersion,
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
      // An unclosed last call (generation stopped at its end marker, a stop token) is still a call.
      const rest = this.#buffer.trimStart();
      if (rest.startsWith(DEEPSEEK_CALL_BEGIN)) this.#call(rest.slice(DEEPSEEK_CALL_BEGIN.length), out);
    } else out.content += this.#buffer;
    this.#buffer = "";
    return out;
  }

  #step(out: ToolCallDelta, final: boolean): boolean {
    if (!this.#inSection) {
      const start = this.#buffer.indexOf(DEEPSEEK_CALLS_BEGIN);
      if (start >= 0) {
        out.content += this.#buffer.slice(0, start);
        this.#buffer = this.#buffer.slice(start + DEEPSEEK_CALLS_BEGIN.length);
        this.#inSection = true;
        return true;
      }
      const hold = final ? 0 : partialMatchLength(this.#buffer, [DEEPSEEK_CALLS_BEGIN]);
      out.content += this.#buffer.slice(0, this.#buffer.length - hold);
      this.#buffer = this.#buffer.slice(this.#buffer.length - hold);
      return false;
    }
    const rest = this.#buffer.trimStart();
    if (rest.startsWith(DEEPSEEK_CALLS_END)) {
      this.#buffer = rest.slice(DEEPSEEK_CALLS_END.length);
      this.#inSection = false;
      return true;
    }
    if (rest.startsWith(DEEPSEEK_CALL_BEGIN)) {
      const end = rest.indexOf(DEEPSEEK_CALL_END);
      if (end < 0) return false;
      this.#call(rest.slice(DEEPSEEK_CALL_BEGIN.length, end), out);
      this.#buffer = rest.slice(end + DEEPSEEK_CALL_END.length);
      return true;
    }
    if (
      rest === "" ||
      (!final && (DEEPSEEK_CALLS_END.startsWith(rest) || DEEPSEEK_CALL_BEGIN.startsWith(rest)))
    )
      return false;
    // Text inside the section that is no call: the section is over and the text is content.
    this.#buffer = rest;
    this.#inSection = false;
    return true;
  }

  #call(body: string, out: ToolCallDelta): void {
    const call = parseBody(this.version, body);
    if (call) out.toolCalls.push(toolCall(this.#count++, this.#newId(), call.name, call.args));
  }
}
