import { validateCompletionRequest } from "@kvasir/llm";
import { describe, expect, it } from "vitest";
import { HttpError } from "../errors.js";
import { validateCompletion } from "./completions.js";

const ids = Array.from({ length: 5_000 }, (_, i) => (i * 7_919) % 151_936);

/** What the schema alone answers: the value, or the error validateCompletion throws. */
function schemaAlone(body: unknown) {
  const result = validateCompletionRequest(body);
  return result.ok ? result.value : result.error.error;
}

function ours(body: unknown) {
  try {
    return validateCompletion(body);
  } catch (error) {
    if (!(error instanceof HttpError)) throw error;
    return error.toBody().error;
  }
}

describe("validateCompletion", () => {
  it("answers a token-id prompt exactly as the schema does", () => {
    const bodies = [
      { model: "m", prompt: ids, max_tokens: 3, stream: true, stream_options: { include_usage: true } },
      { model: "m", prompt: [0, 4_294_967_295], echo: true, logprobs: 2, n: 2, stop: "x" },
    ];
    for (const body of bodies) {
      const value = ours(body);
      expect(value).toEqual(schemaAlone(body));
      expect("prompt" in value && value.prompt[0]).toBe(body.prompt);
    }
  });

  it("gives the schema's own errors for a bad id or a bad field beside good ids", () => {
    const bodies = [
      { model: "m", prompt: [1, 2, -3] },
      { model: "m", prompt: [1, 2.5] },
      { model: "m", prompt: [1, 4_294_967_296] },
      { model: "m", prompt: [] },
      { model: "m", prompt: ids, stream_options: { include_usage: true } },
      { model: "m", prompt: ids, max_tokens: -1 },
      { prompt: ids },
    ];
    for (const body of bodies) {
      const error = ours(body);
      expect(error).toMatchObject({ type: "invalid_request_error" });
      const expected = schemaAlone(body);
      expect(error).toMatchObject({ message: "message" in expected ? expected.message : "" });
      expect(error).toMatchObject({ param: "param" in expected ? expected.param : null });
    }
  });

  it("leaves text prompts and lists of prompts to the schema", () => {
    for (const prompt of ["hello", ["a", "b"], [[1, 2], [3]]]) {
      const body = { model: "m", prompt };
      expect(ours(body)).toEqual(schemaAlone(body));
    }
  });
});
