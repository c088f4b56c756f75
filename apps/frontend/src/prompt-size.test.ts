import type { Tokenizer } from "@kvasir/llm";
import { describe, expect, it } from "vitest";
import { HttpError } from "./errors.js";
import { chatInputChars, maxTokenBytes, minimumTokens, refuseObviouslyTooLong } from "./prompt-size.js";

/** A tokenizer with just a vocabulary (stored form, decoded text): enough for the bound. */
function vocabulary(tokens: [string, string][]): Tokenizer {
  return {
    vocabSize: tokens.length,
    idToToken: (id: number) => tokens[id]?.[0],
    decode: (ids: readonly number[]) => ids.map((id) => tokens[id]?.[1] ?? "").join(""),
  } as Partial<Tokenizer> as Tokenizer;
}

describe("the refusal bound", () => {
  it("is the longest token's text in UTF-8 bytes, stored or decoded, whichever is shorter", () => {
    // Byte-level BPE: "ĠĠĠĠ" is four spaces (eight bytes stored, four decoded).
    const byteLevel: [string, string][] = [
      ["a", "a"],
      ["ĠĠĠĠ", "    "],
      ["<|im_start|>", "<|im_start|>"],
    ];
    expect(maxTokenBytes(vocabulary(byteLevel))).toBe(12);
    // SentencePiece: "▁日本語" is a space and nine bytes; a byte-fallback token decodes to U+FFFD.
    const sentencePiece: [string, string][] = [
      ["▁日本語", " 日本語"],
      ["<0xE3>", "\uFFFD"],
    ];
    expect(maxTokenBytes(vocabulary(sentencePiece))).toBe(10);
  });

  it("counts the fewest tokens a text can take", () => {
    expect(minimumTokens("abcdefgh", 4)).toBe(2);
    expect(minimumTokens("abcdefghi", 4)).toBe(3);
    expect(minimumTokens("日本", 3)).toBe(2);
  });

  it("refuses only a prompt that cannot fit even at the longest token, with OpenAI's code", () => {
    expect(() => refuseObviouslyTooLong("x".repeat(400), 4, 101, "messages")).not.toThrow();
    let refusal: unknown;
    try {
      refuseObviouslyTooLong("x".repeat(400), 4, 100, "messages");
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(HttpError);
    expect(refusal instanceof HttpError && refusal.toBody().error).toMatchObject({
      type: "invalid_request_error",
      code: "context_length_exceeded",
      param: "messages",
    });
  });
});

describe("chatInputChars", () => {
  it("counts message text, text parts, other text fields and tool definitions", () => {
    const tools = [{ type: "function", function: { name: "f" } }];
    const chars = chatInputChars({
      messages: [
        { role: "user", content: "hello" },
        { role: "user", content: [{ type: "text", text: "abc" }, { type: "image_url" }] },
        { role: "assistant", content: null, reasoning_content: "hmm" },
      ],
      tools,
    });
    expect(chars).toBe("user".length * 2 + "assistant".length + 5 + 3 + 3 + JSON.stringify(tools).length);
  });
});
