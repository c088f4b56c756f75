import { tryParseJson } from "../json-scan.js";
import { type SectionFormat, SectionToolParser } from "./section.js";

// DeepSeek's markers use U+FF5C (fullwidth vertical line) and U+2581 (lower one eighth block).
export const DEEPSEEK_CALLS_BEGIN = "<｜tool▁calls▁begin｜>";
export const DEEPSEEK_CALLS_END = "<｜tool▁calls▁end｜>";
export const DEEPSEEK_CALL_BEGIN = "<｜tool▁call▁begin｜>";
export const DEEPSEEK_CALL_END = "<｜tool▁call▁end｜>";

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
export class DeepSeekToolParser extends SectionToolParser {
  constructor(version: DeepSeekVersion, opts: { newId?: () => string } = {}) {
    const format: SectionFormat = {
      sectionBegin: [DEEPSEEK_CALLS_BEGIN],
      sectionEnd: [DEEPSEEK_CALLS_END],
      callBegin: DEEPSEEK_CALL_BEGIN,
      callEnd: DEEPSEEK_CALL_END,
      parseBody: (body) => parseBody(version, body),
    };
    super(format, opts);
  }
}
