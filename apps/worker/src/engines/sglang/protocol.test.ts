import { describe, expect, it } from "vitest";
import type { EngineRequest } from "../../engine.js";
import { InvalidEngineRequest } from "../../engine.js";
import { SglangStreamReader, sglangGenerateBody } from "./protocol.js";

const request: EngineRequest = {
  requestId: "req-9",
  tokenIds: [151644, 872, 198, 9707, 151645],
  params: {
    maxTokens: 3,
    minTokens: 2,
    stopTokenIds: [151645],
    ignoreEos: false,
    temperature: 0.7,
    seed: 42n,
  },
  priority: 5,
  dpRank: 0,
  loraName: "lora-a",
  cacheSalt: "salt",
};

const chunk = (ids: number[], completion: number, finish: unknown = null) =>
  JSON.stringify({
    text: "",
    output_ids: ids,
    meta_info: {
      id: "req-9",
      finish_reason: finish,
      prompt_tokens: 5,
      completion_tokens: completion,
      cached_tokens: 4,
    },
  });

describe("SGLang requests", () => {
  it("maps the request onto /generate's input_ids, sampling_params and routing fields", () => {
    expect(sglangGenerateBody(request, { dataParallelSize: 1, priorityScheduling: true }, true)).toEqual({
      rid: "req-9",
      input_ids: [151644, 872, 198, 9707, 151645],
      sampling_params: {
        max_new_tokens: 3,
        min_new_tokens: 2,
        stop_token_ids: [151645],
        temperature: 0.7,
        sampling_seed: 42,
      },
      stream: true,
      lora_path: "lora-a",
      priority: 5,
      routed_dp_rank: 0,
      extra_key: "salt",
    });
  });

  it("constrains output to a JSON schema with sampling_params.json_schema", () => {
    const schema = { type: "object", required: ["a"] };
    const body = sglangGenerateBody(
      { ...request, params: { ...request.params, structuredOutputs: { json: schema } } },
      { dataParallelSize: 1, priorityScheduling: false },
      true,
    );
    expect(body.sampling_params?.json_schema).toBe(JSON.stringify(schema));
  });

  it("carries the bootstrap fields of a decode leg", () => {
    const body = sglangGenerateBody(
      {
        ...request,
        disaggParams: { bootstrap_host: "10.0.0.2", bootstrap_port: 8998, bootstrap_room: 12345 },
      },
      { dataParallelSize: 1, priorityScheduling: false },
      true,
    );
    expect(body).toMatchObject({ bootstrap_host: "10.0.0.2", bootstrap_port: 8998, bootstrap_room: 12345 });
    expect(body).not.toHaveProperty("priority");
  });
});

describe("SGLang streams", () => {
  it("turns cumulative output_ids into deltas", () => {
    const reader = new SglangStreamReader(5);
    expect(reader.read([chunk([9707], 1)])?.tokenIds).toEqual([9707]);
    expect(
      reader.read([
        chunk([9707, 1052], 2),
        chunk([9707, 1052, 151645], 3, { type: "stop", matched: 151645 }),
      ]),
    ).toEqual({
      tokenIds: [1052, 151645],
      finishReason: "stop",
      usage: { promptTokens: 5, completionTokens: 3, cachedTokens: 4 },
    });
  });

  it("asks for output logprobs and reads the new tokens' from cumulative meta_info lists", () => {
    const asking = { ...request, params: { ...request.params, logprobs: 2 } };
    expect(
      sglangGenerateBody(asking, { dataParallelSize: 1, priorityScheduling: false }, true),
    ).toMatchObject({
      return_logprob: true,
      top_logprobs_num: 2,
    });
    const withLogprobs = (ids: number[], completion: number) =>
      JSON.stringify({
        text: "",
        output_ids: ids,
        meta_info: {
          id: "req-9",
          finish_reason: null,
          prompt_tokens: 5,
          completion_tokens: completion,
          cached_tokens: 0,
          input_token_logprobs: [],
          output_token_logprobs: ids.map((id) => [-id / 10000, id, null]),
          input_top_logprobs: [],
          output_top_logprobs: ids.map((id) => [
            [-0.1, 5, null],
            [-id / 10000, id, null],
          ]),
        },
      });
    const reader = new SglangStreamReader(5, true);
    expect(reader.read([withLogprobs([9707], 1)])?.logprobs).toHaveLength(1);
    expect(reader.read([withLogprobs([9707, 1052], 2)])?.logprobs).toEqual([
      {
        logprob: -0.1052,
        top: [
          { tokenId: 5, logprob: -0.1 },
          { tokenId: 1052, logprob: -0.1052 },
        ],
      },
    ]);
    expect(new SglangStreamReader(5).read([withLogprobs([9707], 1)])).not.toHaveProperty("logprobs");
  });

  it("takes deltas as they are under --incremental-streaming-output", () => {
    const reader = new SglangStreamReader(5);
    expect(reader.read([chunk([9707], 1), chunk([1052], 2)])?.tokenIds).toEqual([9707, 1052]);
    expect(reader.read([chunk([7], 3, { type: "length", length: 3 }), "[DONE]"])).toMatchObject({
      tokenIds: [7],
      finishReason: "length",
    });
  });

  it("reports an abort with a 4xx status as the request's fault", () => {
    const reader = new SglangStreamReader(5);
    expect(() =>
      reader.read([chunk([], 0, { type: "abort", message: "input too long", status_code: 400 })]),
    ).toThrow(InvalidEngineRequest);
  });
});
