import { describe, expect, it } from "vitest";
import { HttpError } from "../errors.js";
import { refuseUnsupportedResponsesParams, responsesLogprobs } from "./responses-params.js";

const base = { model: "m", input: "Hi" };

function refusal(body: Record<string, unknown>): HttpError | undefined {
  try {
    refuseUnsupportedResponsesParams({ ...base, ...body });
  } catch (error) {
    if (error instanceof HttpError) return error;
    throw error;
  }
  return undefined;
}

describe("refuseUnsupportedResponsesParams", () => {
  it("answers chat's n, best_of and logprobs as OpenAI does: unknown parameters", () => {
    expect(refusal({ n: 2 })).toMatchObject({ status: 400, code: "unknown_parameter", param: "n" });
    expect(refusal({ n: 2 })?.message).toBe("Unknown parameter: 'n'.");
    expect(refusal({ logprobs: true })?.param).toBe("logprobs");
  });

  it("refuses what it cannot honour, naming the parameter", () => {
    expect(refusal({ background: true })).toMatchObject({ param: "background", code: "unsupported_value" });
    expect(refusal({ conversation: "conv_1" })).toMatchObject({ param: "conversation" });
    expect(refusal({ prompt: { id: "pmpt_1" } })).toMatchObject({ param: "prompt" });
    expect(refusal({ truncation: "auto" })).toMatchObject({ param: "truncation" });
  });

  it("lets through what it serves or may ignore", () => {
    for (const body of [
      {},
      { background: false, truncation: "disabled", top_logprobs: 0, n: null },
      { include: ["reasoning.encrypted_content"], service_tier: "auto", some_new_field: 1 },
      { include: ["message.output_text.logprobs"], top_logprobs: 3 },
    ]) {
      expect(refusal(body)).toBeUndefined();
    }
  });
});

describe("responsesLogprobs", () => {
  it("reads the alternatives asked with include's message.output_text.logprobs and top_logprobs", () => {
    const include = ["message.output_text.logprobs"];
    expect(responsesLogprobs({ ...base, include, top_logprobs: 3 })).toBe(3);
    expect(responsesLogprobs({ ...base, include })).toBe(0);
    // top_logprobs alone asks for nothing (OpenAI returns logprobs only when included).
    expect(responsesLogprobs({ ...base, top_logprobs: 3 })).toBeUndefined();
    expect(() => responsesLogprobs({ ...base, include, top_logprobs: 21 })).toThrow(/top_logprobs/);
  });
});
