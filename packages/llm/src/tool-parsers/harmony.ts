import { HarmonyReader } from "../harmony.js";
import {
  openAIToolCallId,
  type ToolCallDelta,
  type ToolCallStreamParser,
  toolCall,
} from "../tool-call-parser.js";

/**
 * gpt-oss tool calls (`harmony`): a message with a recipient (`<|channel|>commentary to=functions.get_weather
 * <|constrain|>json<|message|>{...}<|call|>`) is a call to that function, emitted when the message ends (at
 * `<|call|>`, or at the output's end since `<|call|>` is a stop token). Every other message's text is content,
 * without its Harmony framing; with the `gpt_oss` reasoning parser in front, that is the final answer only.
 */
export class HarmonyToolParser implements ToolCallStreamParser {
  readonly #newId: () => string;
  readonly #reader = new HarmonyReader();
  #count = 0;

  constructor(opts: { newId?: () => string } = {}) {
    this.#newId = opts.newId ?? openAIToolCallId;
  }

  get toolCallCount(): number {
    return this.#count;
  }

  push(text: string): ToolCallDelta {
    return this.#read(this.#reader.push(text));
  }

  flush(): ToolCallDelta {
    return this.#read(this.#reader.flush());
  }

  #read(events: ReturnType<HarmonyReader["push"]>): ToolCallDelta {
    const out: ToolCallDelta = { content: "", toolCalls: [] };
    for (const event of events) {
      if (event.recipient === undefined) {
        if (event.kind === "text") out.content += event.text;
        continue;
      }
      if (event.kind !== "end") continue;
      const name = event.recipient.replace(/^functions\./, "");
      out.toolCalls.push(toolCall(this.#count++, this.#newId(), name, event.content.trim()));
    }
    return out;
  }
}
