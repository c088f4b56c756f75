import { partialMatchLength } from "./partial-match.js";

// gpt-oss's Harmony format: each message is `<|start|>ROLE<|channel|>CHANNEL[ to=RECIPIENT][ <|constrain|>TYPE]`
// `<|message|>CONTENT` ended by `<|end|>`, `<|call|>` (a tool call) or `<|return|>` (the final answer). The
// prompt ends with `<|start|>assistant`, so the output opens at `<|channel|>`.
const MESSAGE = "<|message|>";
const TERMINATORS = ["<|end|>", "<|call|>", "<|return|>"];
// These open the next message's header, so they end a message without being consumed.
const OPENERS = ["<|start|>", "<|channel|>"];
const BODY_ENDS = [...TERMINATORS, ...OPENERS];
// A header is a few words; past this the text is not Harmony and is read as the final answer.
const MAX_HEADER = 512;

/** Text of one message as it streams; `recipient` is set for tool calls (`functions.get_weather`). */
export interface HarmonyText {
  kind: "text";
  channel: string;
  recipient: string | undefined;
  text: string;
}

/** A message's end, with all its content; `terminator` "eof" when the output stopped inside it. */
export interface HarmonyEnd {
  kind: "end";
  channel: string;
  recipient: string | undefined;
  content: string;
  terminator: string;
}

export type HarmonyEvent = HarmonyText | HarmonyEnd;

/**
 * Splits streamed Harmony output into messages by channel (`analysis`, `commentary`, `final`). Marker fragments
 * at a chunk's end are held until they resolve. Output without Harmony headers reads as one `final` message.
 */
export class HarmonyReader {
  #inBody = false;
  #buffer = "";
  #channel = "final";
  #recipient: string | undefined;
  #content = "";

  push(text: string): HarmonyEvent[] {
    this.#buffer += text;
    const events: HarmonyEvent[] = [];
    while (this.#step(events, false)) {}
    return events;
  }

  flush(): HarmonyEvent[] {
    const events: HarmonyEvent[] = [];
    while (this.#step(events, true)) {}
    if (this.#inBody) {
      if (this.#buffer) this.#text(this.#buffer, events);
      this.#end("eof", events);
    }
    this.#buffer = "";
    return events;
  }

  #step(events: HarmonyEvent[], final: boolean): boolean {
    if (!this.#inBody) {
      const at = this.#buffer.indexOf(MESSAGE);
      if (at >= 0) {
        this.#header(this.#buffer.slice(0, at));
        this.#buffer = this.#buffer.slice(at + MESSAGE.length);
        this.#inBody = true;
        return true;
      }
      const head = this.#buffer.trimStart();
      const harmony = head.startsWith("<|") || "<|".startsWith(head);
      if (harmony && this.#buffer.length <= MAX_HEADER && !final) return false;
      if (head === "" || (harmony && final && this.#buffer.length <= MAX_HEADER)) return false;
      // Not a header: plain text, read as the final answer.
      this.#channel = "final";
      this.#recipient = undefined;
      this.#inBody = true;
      return true;
    }
    let end = -1;
    let marker = "";
    for (const candidate of BODY_ENDS) {
      const at = this.#buffer.indexOf(candidate);
      if (at >= 0 && (end < 0 || at < end)) {
        end = at;
        marker = candidate;
      }
    }
    if (end >= 0) {
      if (end > 0) this.#text(this.#buffer.slice(0, end), events);
      const consumed = TERMINATORS.includes(marker) ? marker.length : 0;
      this.#buffer = this.#buffer.slice(end + consumed);
      this.#end(consumed > 0 ? marker : "eof", events);
      return true;
    }
    const hold = final ? 0 : partialMatchLength(this.#buffer, BODY_ENDS);
    const ready = this.#buffer.slice(0, this.#buffer.length - hold);
    if (ready) this.#text(ready, events);
    this.#buffer = this.#buffer.slice(ready.length);
    return false;
  }

  #header(header: string): void {
    this.#channel = /<\|channel\|>\s*(\w+)/.exec(header)?.[1] ?? "final";
    this.#recipient = /\bto=([^\s<]+)/.exec(header)?.[1];
  }

  #text(text: string, events: HarmonyEvent[]): void {
    this.#content += text;
    events.push({ kind: "text", channel: this.#channel, recipient: this.#recipient, text });
  }

  #end(terminator: string, events: HarmonyEvent[]): void {
    events.push({
      kind: "end",
      channel: this.#channel,
      recipient: this.#recipient,
      content: this.#content,
      terminator,
    });
    this.#inBody = false;
    this.#content = "";
    this.#recipient = undefined;
  }
}

/** A tool-call message written back in Harmony form, for a tool parser after the reasoning stage. */
export function harmonyToolMessage(recipient: string, content: string): string {
  return `<|channel|>commentary to=${recipient} <|constrain|>json${MESSAGE}${content}<|call|>`;
}
