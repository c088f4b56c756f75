import { tryParseJson } from "../json-scan.js";
import { SectionToolParser } from "./section.js";

// `functions.NAME:INDEX<|tool_call_argument_begin|>ARGS` (Kimi K2's chat template and tool-call guide).
const BODY = /^\s*(?:functions\.)?([^\s:<]+):(\d+)\s*<\|tool_call_argument_begin\|>([\s\S]*)$/;

/**
 * Kimi K2 tool calls (`kimi_k2`): `<|tool_calls_section_begin|>` (or the singular `<|tool_call_section_begin|>`)
 * holding `<|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{...}<|tool_call_end|>` calls.
 * The call's `functions.NAME:INDEX` is its id, as Kimi's template expects it back in the tool message.
 */
export class KimiK2ToolParser extends SectionToolParser {
  constructor(opts: { newId?: () => string } = {}) {
    super(
      {
        sectionBegin: ["<|tool_calls_section_begin|>", "<|tool_call_section_begin|>"],
        sectionEnd: ["<|tool_calls_section_end|>", "<|tool_call_section_end|>"],
        callBegin: "<|tool_call_begin|>",
        callEnd: "<|tool_call_end|>",
        parseBody(body) {
          const match = BODY.exec(body);
          const name = match?.[1];
          const args = match?.[3] === undefined ? undefined : tryParseJson(match[3].trim());
          if (!name || !args) return undefined;
          return { name, args: args.value, id: `functions.${name}:${match?.[2] ?? "0"}` };
        },
      },
      opts,
    );
  }
}
