import { HarmonyReader, harmonyToolMessage } from "./harmony.js";
import type { ReasoningDelta } from "./reasoning-parser.js";

/**
 * gpt-oss reasoning (`gpt_oss`): the `analysis` channel is reasoning; `final` and `commentary` text without a
 * recipient (preambles) are content. A tool-call message is passed on whole, in Harmony form, as content once it
 * ends, so the `harmony` tool parser behind this stage finds it.
 */
export class GptOssReasoningParser {
  readonly #reader = new HarmonyReader();

  push(text: string): ReasoningDelta {
    return this.#read(this.#reader.push(text));
  }

  flush(): ReasoningDelta {
    return this.#read(this.#reader.flush());
  }

  #read(events: ReturnType<HarmonyReader["push"]>): ReasoningDelta {
    const out: ReasoningDelta = { reasoning: "", content: "" };
    for (const event of events) {
      if (event.recipient !== undefined) {
        if (event.kind === "end") out.content += harmonyToolMessage(event.recipient, event.content);
      } else if (event.kind === "text") {
        if (event.channel === "analysis") out.reasoning += event.text;
        else out.content += event.text;
      }
    }
    return out;
  }
}
