import { parseSseBody } from "@kvasir/engine-wire";
import { describe, expect, it } from "vitest";
import type { EngineRequest } from "../../engine.js";
import { EngineOverloaded, InvalidEngineRequest } from "../../engine.js";
import { checkSupported } from "../http-engine/protocol.js";
import { engineRequestError } from "../http-engine/request-errors.js";
import { VllmStreamReader, vllmCompletionBody, vllmGenerateBody, vllmHeaders } from "./protocol.js";

const request: EngineRequest = {
  requestId: "req-7",
  tokenIds: [151644, 872, 198],
  params: {
    maxTokens: 2,
    minTokens: 1,
    stopTokenIds: [151645],
    ignoreEos: true,
    temperature: 0.7,
    topP: 0.9,
    topK: 20,
    seed: 2n ** 64n - 1n,
  },
  priority: 3,
  dpRank: 1,
  loraName: "sql-lora",
  cacheSalt: "tenant-a",
};
const settings = { dataParallelSize: 2, priorityScheduling: true };

describe("vLLM requests", () => {
  it("maps sampling, stop conditions, LoRA, priority, salt and dp rank onto /inference/v1/generate", () => {
    const body = vllmGenerateBody(request, settings, "Qwen/Qwen3-0.6B", true);
    expect(body).toEqual({
      request_id: "req-7",
      model: "sql-lora",
      priority: -3,
      cache_salt: "tenant-a",
      token_ids: [151644, 872, 198],
      sampling_params: {
        max_tokens: 2,
        min_tokens: 1,
        stop_token_ids: [151645],
        ignore_eos: true,
        temperature: 0.7,
        top_p: 0.9,
        top_k: 20,
        seed: expect.any(Number),
        detokenize: false,
      },
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(Number.isSafeInteger(body.sampling_params.seed)).toBe(true);
    expect(vllmHeaders(request)).toEqual({ "x-request-id": "req-7", "x-data-parallel-rank": "1" });
  });

  it("puts the same fields flat in /v1/completions with a token-id prompt and token ids back", () => {
    const plain: EngineRequest = { ...request, priority: 0, params: { ...request.params, minTokens: 0 } };
    const { loraName: _l, cacheSalt: _c, seed: _s, ...rest } = { ...plain, seed: undefined };
    const body = vllmCompletionBody({ ...rest, params: { ...plain.params } }, settings, "base", false);
    expect(body).toMatchObject({
      model: "base",
      prompt: [151644, 872, 198],
      return_token_ids: true,
      max_tokens: 2,
    });
    expect(body).not.toHaveProperty("priority");
    expect(body).not.toHaveProperty("min_tokens");
    expect(body).not.toHaveProperty("stream_options");
  });

  it("sends no priority to an engine without priority scheduling (vLLM would refuse it)", () => {
    const body = vllmGenerateBody(request, { ...settings, priorityScheduling: false }, "m", true);
    expect(body).not.toHaveProperty("priority");
  });

  it("passes kv_transfer_params through verbatim", () => {
    const params = {
      do_remote_prefill: true,
      remote_block_ids: [[1, 2]],
      remote_host: "p",
      extra_fork_key: 7,
    };
    expect(
      vllmGenerateBody({ ...request, disaggParams: params }, settings, "m", true).kv_transfer_params,
    ).toEqual(params);
  });
});

const frames = (body: string) => parseSseBody(body);

describe("vLLM streams", () => {
  // vLLM's completion stream with return_token_ids and include_usage (engine-wire fixtures, shortened).
  const completion = [
    'data: {"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"Hello","logprobs":null,"finish_reason":null,"stop_reason":null,"prompt_token_ids":[1,2,3],"token_ids":[9707]}]}',
    'data: {"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" there","logprobs":null,"finish_reason":null,"stop_reason":null,"token_ids":[1052]}]}',
    'data: {"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"","logprobs":null,"finish_reason":"stop","stop_reason":151645,"token_ids":[151645]}]}',
    'data: {"id":"c","object":"text_completion","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":3,"total_tokens":6,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":2}}}',
    "data: [DONE]",
  ].join("\n\n");

  it("folds frames that arrive together into one output and ends with usage", () => {
    const frames = parseSseBody(completion);
    const reader = new VllmStreamReader(3);
    expect(reader.read(frames.slice(0, 1))).toEqual({
      tokenIds: [9707],
      usage: { promptTokens: 3, completionTokens: 1, cachedTokens: 0 },
    });
    // The finishing chunk waits for the usage chunk and [DONE].
    expect(reader.read(frames.slice(1, 3))).toEqual({
      tokenIds: [1052, 151645],
      usage: { promptTokens: 3, completionTokens: 3, cachedTokens: 0 },
    });
    expect(reader.read(frames.slice(3))).toEqual({
      tokenIds: [],
      finishReason: "stop",
      usage: { promptTokens: 3, completionTokens: 3, cachedTokens: 2 },
    });
  });

  it("reads each token's logprob and the n most likely, from either endpoint's chunks", () => {
    const completions = new VllmStreamReader(3, 1);
    const out = completions.read([
      '{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"","logprobs":{"text_offset":[0,13],"token_logprobs":[-0.5,-2],"tokens":["token_id:9707","token_id:1052"],"top_logprobs":[{"token_id:9707":-0.5},{"token_id:1052":-2,"token_id:11":-0.25}]},"finish_reason":null,"stop_reason":null,"token_ids":[9707,1052]}]}',
    ]);
    expect(out?.logprobs).toEqual([
      { logprob: -0.5, top: [{ tokenId: 9707, logprob: -0.5 }] },
      { logprob: -2, top: [{ tokenId: 11, logprob: -0.25 }] },
    ]);
    const generate = new VllmStreamReader(3, 1);
    const chunk = generate.read([
      '{"request_id":"r","choices":[{"index":0,"logprobs":{"content":[{"token":"token_id:1052","logprob":-2,"bytes":null,"top_logprobs":[{"token":"token_id:1052","logprob":-2,"bytes":null},{"token":"token_id:11","logprob":-0.25,"bytes":null}]}]},"finish_reason":null,"token_ids":[1052]}],"usage":null}',
    ]);
    expect(chunk?.logprobs).toEqual([{ logprob: -2, top: [{ tokenId: 11, logprob: -0.25 }] }]);
    // Not asked: none read, whatever the engine sent.
    expect(new VllmStreamReader(3).read(frames(completion).slice(0, 1))).not.toHaveProperty("logprobs");
  });

  it("reads /inference/v1/generate chunks and maps abort to cancelled", () => {
    const reader = new VllmStreamReader(5);
    const out = reader.read([
      '{"request_id":"r","choices":[{"index":0,"logprobs":null,"finish_reason":null,"token_ids":[9707]}],"usage":null}',
      '{"request_id":"r","choices":[{"index":0,"logprobs":null,"finish_reason":"abort","token_ids":[]}],"usage":null}',
      "[DONE]",
    ]);
    expect(out).toMatchObject({ tokenIds: [9707], finishReason: "cancelled" });
  });

  it("turns an error frame into the worker's error kinds", () => {
    const reader = new VllmStreamReader(1);
    expect(() =>
      reader.read([
        '{"error":{"message":"max_tokens too large","type":"BadRequestError","param":null,"code":400}}',
      ]),
    ).toThrow(InvalidEngineRequest);
    expect(engineRequestError(503, "busy")).toBeInstanceOf(EngineOverloaded);
    expect(engineRequestError(500, "boom")).not.toBeInstanceOf(InvalidEngineRequest);
  });
});

describe("what vLLM requests carry beyond sampling", () => {
  it("asks for guided JSON as structured_outputs, in the body of either endpoint", () => {
    const schema = { type: "object", properties: { a: { type: "string" } } };
    const guided = { ...request, params: { ...request.params, structuredOutputs: { json: schema } } };
    expect(vllmGenerateBody(guided, settings, "m", true).sampling_params).toMatchObject({
      structured_outputs: { json: schema },
    });
    const object = {
      ...request,
      params: { ...request.params, structuredOutputs: { jsonObject: true as const } },
    };
    expect(vllmCompletionBody(object, settings, "m", true)).toMatchObject({
      structured_outputs: { json_object: true },
    });
  });

  it("refuses what the adapter does not relay instead of dropping it", () => {
    expect(() => checkSupported({ ...request.params, embedding: { dimensions: 0 } }, "sglang")).toThrow(
      /embeddings are not served through the sglang adapter/,
    );
    expect(() => checkSupported({ ...request.params, logprobs: 2 }, "vllm")).not.toThrow();
  });

  it("asks for logprobs by token id: n on completions, n+1 on generate (which lists the sampled token first)", () => {
    const asking = { ...request, params: { ...request.params, logprobs: 3 } };
    expect(vllmCompletionBody(asking, settings, "m", true)).toMatchObject({
      logprobs: 3,
      return_tokens_as_token_ids: true,
    });
    expect(vllmGenerateBody(asking, settings, "m", true).sampling_params.logprobs).toBe(4);
    const sampledOnly = { ...request, params: { ...request.params, logprobs: 0 } };
    expect(vllmGenerateBody(sampledOnly, settings, "m", true).sampling_params.logprobs).toBe(0);
    expect(vllmCompletionBody(request, settings, "m", true)).not.toHaveProperty("logprobs");
    expect(vllmGenerateBody(request, settings, "m", true).sampling_params).not.toHaveProperty("logprobs");
  });
});
