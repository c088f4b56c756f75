import type { Tokenizer } from "@kvasir/llm";
import { describe, expect, it } from "vitest";
import { HttpError } from "./errors.js";
import { chatInputChars, maxTokenBytes, minimumTokens, refuseObviouslyTooLong } from "./prompt-size.js";

/** A tokenizer with just a vocabulary: enough for the bound. */
function vocabulary(tokens: string[]): Tokenizer {
  return {
    vocabSize: tokens.length,
    idToToken: (id: number) => tokens[id],
  } as Partial<Tokenizer> as Tokenizer;
}

describe("the refusal bound", () => {
  it("is the longest vocabulary entry in UTF-8 bytes", () => {
    expect(maxTokenBytes(vocabulary(["a", "Ġthe", "<|im_start|>", "日本"]))).toBe(12);
    expect(maxTokenBytes(vocabulary(["▁", "日本語"]))).toBe(9);
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
