import { create, FinishReason, GenerateRequestSchema } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import { InvalidEngineRequest } from "./engine.js";
import { toEngineRequest, toResponse } from "./worker-service.js";

describe("protocol <-> engine mapping", () => {
  it("maps sampling, stop conditions, routing hints and transfer parameters", () => {
    const request = toEngineRequest(
      create(GenerateRequestSchema, {
        requestId: "r",
        tokenIds: [1, 2],
        sampling: { temperature: 0.5, seed: 7n },
        stop: { maxTokens: 9, minTokens: 2, stopTokenIds: [3], ignoreEos: true },
        priority: 4,
        dpRank: 1,
        loraName: "adapter",
        disaggParamsJson: '{"remote_engine_id":"e"}',
      }),
    );
    expect(request).toMatchObject({
      requestId: "r",
      params: { maxTokens: 9, minTokens: 2, stopTokenIds: [3], ignoreEos: true, temperature: 0.5, seed: 7n },
      priority: 4,
      dpRank: 1,
      loraName: "adapter",
      disaggParams: { remote_engine_id: "e" },
    });
    expect(request.cacheSalt).toBeUndefined();
  });

  it("names requests that come without an id and refuses transfer parameters that are not a JSON object", () => {
    expect(toEngineRequest(create(GenerateRequestSchema, { tokenIds: [1] })).requestId).not.toBe("");
    for (const json of ["{", "[1]", "3"]) {
      expect(() => toEngineRequest(create(GenerateRequestSchema, { disaggParamsJson: json }))).toThrow(
        InvalidEngineRequest,
      );
    }
    for (const [json, message] of [
      ['{"do_remote_prefill":"yes"}', /do_remote_prefill must be a boolean/],
      ['{"remote_block_ids":[1,2]}', /remote_block_ids must be a list of lists/],
      ['{"remote_port":"5600"}', /remote_port must be a positive integer/],
      ['{"remote_host":7}', /remote_host must be a string/],
    ] as const) {
      expect(() => toEngineRequest(create(GenerateRequestSchema, { disaggParamsJson: json }))).toThrow(
        message,
      );
    }
  });

  it("refuses sampling and stop values no engine can honour", () => {
    const refused = [
      [{ sampling: { temperature: Number.NaN } }, /temperature must be a finite number/],
      [{ sampling: { temperature: -1 } }, /temperature must be a finite number/],
      [{ sampling: { topP: 0 } }, /top_p must be in/],
      [{ sampling: { topP: Number.POSITIVE_INFINITY } }, /top_p must be in/],
      [{ sampling: { topK: -2 } }, /top_k must be -1/],
      [{ stop: { maxTokens: 4, minTokens: 5 } }, /min_tokens \(5\) exceeds max_tokens \(4\)/],
    ] as const;
    for (const [fields, message] of refused) {
      expect(() => toEngineRequest(create(GenerateRequestSchema, { tokenIds: [1], ...fields }))).toThrow(
        message,
      );
    }
    const accepted = {
      sampling: { temperature: 0, topP: 1, topK: -1 },
      stop: { maxTokens: 4, minTokens: 4 },
    };
    expect(toEngineRequest(create(GenerateRequestSchema, { tokenIds: [1], ...accepted })).params.topK).toBe(
      -1,
    );
  });

  it("maps outputs, the finish reason and transfer parameters back", () => {
    const last = toResponse({
      tokenIds: [5],
      finishReason: "length",
      usage: { promptTokens: 2, completionTokens: 1, cachedTokens: 0 },
      disaggParams: { a: 1 },
    });
    expect(last.finishReason).toBe(FinishReason.LENGTH);
    expect(JSON.parse(last.disaggParamsJson)).toEqual({ a: 1 });
    const middle = toResponse({ tokenIds: [6] });
    expect(middle.finishReason).toBe(FinishReason.UNSPECIFIED);
    expect(middle.usage).toBeUndefined();
    expect(middle.disaggParamsJson).toBe("");
  });
});
