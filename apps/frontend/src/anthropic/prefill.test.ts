import { describe, expect, it } from "vitest";
import { continueFinalMessage } from "./prefill.js";

describe("continueFinalMessage", () => {
  const rendered = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nThe answer is<|im_end|>\n";

  it("cuts the rendered conversation after the final assistant text", () => {
    expect(continueFinalMessage(rendered, "The answer is")).toBe(
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nThe answer is",
    );
  });

  it("finds text whose leading newlines the template trimmed", () => {
    expect(continueFinalMessage(rendered, "\n\nThe answer is")?.endsWith("assistant\nThe answer is")).toBe(
      true,
    );
  });

  it("is undefined when the template does not render the text as given", () => {
    expect(continueFinalMessage(rendered, "Something else")).toBeUndefined();
    expect(continueFinalMessage(rendered, "")).toBeUndefined();
  });
});
