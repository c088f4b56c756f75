import { beforeAll, describe, expect, it } from "vitest";
import { Detokenizer, type DetokenizerOutput } from "./detokenizer.js";
import type { TokenDecoder } from "./incremental-decoder.js";
import { defaultModelSource, loadTokenizer } from "./model-loader.js";
import type { Tokenizer } from "./tokenizer.js";

// One token per UTF-8 byte, ids >= 256 are special tokens "<sN>": the worst case for split characters.
const SPECIAL_BASE = 256;
const byteDecoder: TokenDecoder = {
  decode(ids, opts) {
    let out = "";
    let bytes: number[] = [];
    const text = () => new TextDecoder().decode(new Uint8Array(bytes));
    for (const id of ids) {
      if (id < SPECIAL_BASE) {
        bytes.push(id);
        continue;
      }
      out += text();
      bytes = [];
      if (!(opts?.skipSpecialTokens ?? true)) out += `<s${id - SPECIAL_BASE}>`;
    }
    return out + text();
  },
};
const bytesOf = (s: string) => [...new TextEncoder().encode(s)];

function run(detok: Detokenizer, ids: readonly number[]): DetokenizerOutput[] {
  return ids.map((id) => detok.push([id]));
}

describe("Detokenizer: UTF-8", () => {
  it("holds back split multi-byte characters and never emits U+FFFD", () => {
    const text = "a€b😀c你好";
    const outs = run(new Detokenizer(byteDecoder), bytesOf(text));
    expect(outs.map((o) => o.text).join("")).toBe(text);
    expect(outs.some((o) => o.text.includes("\uFFFD"))).toBe(false);
    // The four bytes of 😀 produce nothing until the last.
    expect(outs.slice(5, 8).map((o) => o.text)).toEqual(["", "", ""]);
    expect(outs[8]?.text).toBe("😀");
  });

  it("flushes an unfinished character at the end of the stream", () => {
    const detok = new Detokenizer(byteDecoder);
    expect(detok.push([0x61, 0xe2, 0x82]).text).toBe("a");
    expect(detok.flush()).toEqual({ text: "\uFFFD" });
  });

  it("skips special tokens unless told not to", () => {
    const ids = [SPECIAL_BASE + 1, ...bytesOf("hi"), SPECIAL_BASE + 2];
    expect(new Detokenizer(byteDecoder).push(ids).text).toBe("hi");
    expect(new Detokenizer(byteDecoder, { skipSpecialTokens: false }).push(ids).text).toBe("<s1>hi<s2>");
  });
});

describe("Detokenizer: stop conditions", () => {
  it("never emits a partial stop string and truncates at the match", () => {
    const detok = new Detokenizer(byteDecoder, { stop: ["STOP"] });
    const outs = run(detok, bytesOf("go ST STOP after"));
    const texts = outs.map((o) => o.text);
    // "ST" is held until the following space proves it is not a stop string.
    expect(texts.slice(3, 5)).toEqual(["", ""]);
    expect(texts[5]).toBe("ST ");
    expect(texts.join("")).toBe("go ST ");
    const last = outs.find((o) => o.finishReason);
    expect(last).toEqual({ text: "", finishReason: "stop", stopReason: "STOP" });
    expect(detok.tokenCount).toBe(10);
    expect(detok.text).toBe("go ST ");
  });

  it("includes the stop string when asked and prefers the earliest match", () => {
    const detok = new Detokenizer(byteDecoder, { stop: ["cd", "bcd"], includeStopStrInOutput: true });
    const out = detok.push(bytesOf("abcde"));
    expect(out).toEqual({ text: "abcd", finishReason: "stop", stopReason: "bcd" });
  });

  it("releases held text when the stream ends without a match", () => {
    const detok = new Detokenizer(byteDecoder, { stop: "</end>" });
    expect(detok.push(bytesOf("x </en")).text).toBe("x ");
    expect(detok.flush().text).toBe("</en");
  });

  it("stops on a stop token id without emitting its text", () => {
    const eos = SPECIAL_BASE + 9;
    const detok = new Detokenizer(byteDecoder, { stopTokenIds: [eos], skipSpecialTokens: false });
    expect(detok.push([...bytesOf("ok"), eos, ...bytesOf("more")])).toEqual({
      text: "ok",
      finishReason: "stop",
      stopReason: eos,
    });
    expect(detok.tokenCount).toBe(3);
    expect(detok.push(bytesOf("late"))).toEqual({ text: "" });
  });

  it("keeps stop token text with include_stop_str_in_output", () => {
    const eos = SPECIAL_BASE + 9;
    const detok = new Detokenizer(byteDecoder, {
      stopTokenIds: [eos],
      skipSpecialTokens: false,
      includeStopStrInOutput: true,
    });
    expect(detok.push([...bytesOf("ok"), eos]).text).toBe("ok<s9>");
  });

  it("releases text held for a stop string when a stop token ends the sequence", () => {
    const eos = SPECIAL_BASE + 9;
    const detok = new Detokenizer(byteDecoder, { stop: ["STOP"], stopTokenIds: [eos] });
    expect(detok.push([...bytesOf("a ST"), eos])).toEqual({
      text: "a ST",
      finishReason: "stop",
      stopReason: eos,
    });
  });

  it("ignores stop conditions before min_tokens", () => {
    const eos = SPECIAL_BASE + 9;
    const detok = new Detokenizer(byteDecoder, { stop: ["x"], stopTokenIds: [eos], minTokens: 3 });
    // eos as 2nd token and "x" as 1st token are inside the first three tokens, so they do not stop.
    expect(detok.push([0x78, eos, 0x61]).finishReason).toBeUndefined();
    expect(detok.text).toBe("xa");
    expect(detok.push([0x62, 0x78])).toEqual({ text: "b", finishReason: "stop", stopReason: "x" });
  });

  it("finishes with length at max_tokens, releasing held text", () => {
    const detok = new Detokenizer(byteDecoder, { stop: ["STOP"], maxTokens: 4 });
    expect(detok.push(bytesOf("a STOP"))).toEqual({ text: "a ST", finishReason: "length" });
    expect(detok.finishReason).toBe("length");
  });
});

describe("Detokenizer with the Qwen3 tokenizer", () => {
  let qwen: Tokenizer;
  beforeAll(async () => {
    qwen = await loadTokenizer(defaultModelSource());
  });

  it("streams emoji and rare CJK that span byte-level tokens", () => {
    const text = "Hi 🤗👍🏽 你好 𠀀𪚥 done";
    const ids = qwen.encode(text);
    // Several characters need more than one token each.
    expect(ids.length).toBeGreaterThan(12);
    const detok = new Detokenizer(qwen, { stopTokenIds: qwen.eosTokenIds });
    const outs = run(detok, [...ids, 151645]);
    expect(outs.some((o) => o.text === "")).toBe(true);
    expect(outs.some((o) => o.text.includes("\uFFFD"))).toBe(false);
    expect(outs.map((o) => o.text).join("")).toBe(text);
    expect(outs.at(-1)).toEqual({ text: "", finishReason: "stop", stopReason: 151645 });
  });

  it("skips special tokens and keeps the leading space after a prompt", () => {
    const prompt = qwen.encode("<|im_start|>assistant\n");
    const detok = new Detokenizer(qwen, { promptIds: prompt });
    const ids = qwen.encode(" Hello<|endoftext|> world");
    expect(ids.map((id) => detok.push([id]).text).join("")).toBe(" Hello world");
  });

  it("applies stop strings that fall inside a token", () => {
    const detok = new Detokenizer(qwen, { stop: ["lo w"] });
    const out = detok.push(qwen.encode("Hello world again"));
    expect(out).toEqual({ text: "Hel", finishReason: "stop", stopReason: "lo w" });
  });
});
