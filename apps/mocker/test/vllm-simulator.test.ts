// `kvasir mocker --protocol vllm` as a real process: slow start (the port refuses until the engine is up),
// streamed completions with exact max_tokens and token ids, stop token ids, cancellation (the running gauge back to
// 0), metrics, KV events over ZMQ decoded by @kvasir/kv, replay of missed batches, and a clean exit on SIGTERM.

import { parseLiveFrames, requestReplay, type VllmCompletionStreamResponse } from "@kvasir/engine-wire";
import { EngineEventDecoder } from "@kvasir/kv";
import { freePort, type NodeProcess, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Subscriber } from "zeromq";
import { body, metricValue, post, readSse, startSimulator, stop } from "./engine-process.js";

const prompt = Array.from({ length: 40 }, (_, i) => 1000 + i);

describe("kvasir mocker --protocol vllm", () => {
  let child: NodeProcess;
  let base: string;
  let pubPort: number;
  let replayPort: number;
  const sub = new Subscriber({ linger: 0, receiveTimeout: 5000 });

  beforeAll(async () => {
    const port = await freePort();
    pubPort = await freePort();
    replayPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = await startSimulator(
      [
        "--protocol",
        "vllm",
        "--model",
        "Qwen/Qwen3-0.6B",
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--block-size",
        "16",
        "--speedup-ratio",
        "10",
        "--startup-delay-ms",
        "1500",
        "--kv-events-config",
        JSON.stringify({
          enable_kv_cache_events: true,
          publisher: "zmq",
          endpoint: `tcp://*:${pubPort}`,
          replay_endpoint: `tcp://*:${replayPort}`,
          topic: "kv-events",
        }),
        "--kv-transfer-config",
        '{"kv_connector":"NixlConnector","kv_role":"kv_both"}',
        "--gpu-memory-utilization",
        "0.9",
      ],
      false,
    );
    // Like vLLM while it loads the model: nothing listens yet.
    await expect(fetch(`${base}/health`)).rejects.toThrow();
    await child.waitForLine(/simulated engine ready/, 20_000);
    expect((await fetch(`${base}/health`)).status).toBe(200);
    sub.connect(`tcp://127.0.0.1:${pubPort}`);
    sub.subscribe("kv-events");
  }, 30_000);

  afterAll(async () => {
    sub.close();
    if (child) expect(await stop(child)).toBe(0);
  });

  it("serves /v1/models and /version", async () => {
    const models = await (await fetch(`${base}/v1/models`)).json();
    expect(models).toMatchObject({ object: "list", data: [{ id: "Qwen/Qwen3-0.6B", max_model_len: 40960 }] });
    expect(await (await fetch(`${base}/version`)).json()).toEqual({ version: expect.any(String) });
  });

  it("streams exactly max_tokens token ids, prompt ids first, usage last; KV events follow", async () => {
    const res = await post(`${base}/v1/completions`, {
      model: "Qwen/Qwen3-0.6B",
      prompt,
      max_tokens: 7,
      stream: true,
      stream_options: { include_usage: true },
      return_token_ids: true,
      ignore_eos: true,
    });
    expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
    const frames = await readSse(res);
    expect(frames.at(-1)).toBe("[DONE]");
    const chunks: VllmCompletionStreamResponse[] = frames.slice(0, -1).map((f) => JSON.parse(f));
    const tokenChunks = chunks.filter((c) => c.choices.length > 0);
    expect(tokenChunks[0]?.choices[0]?.prompt_token_ids).toEqual(prompt);
    expect(tokenChunks.flatMap((c) => c.choices[0]?.token_ids ?? [])).toHaveLength(7);
    expect(tokenChunks.at(-1)?.choices[0]?.finish_reason).toBe("length");
    expect(chunks.at(-1)?.usage).toEqual({ prompt_tokens: 40, total_tokens: 47, completion_tokens: 7 });

    // The prompt's two full blocks (and any filled by output) were stored, in vLLM's layout.
    const decoder = new EngineEventDecoder({ workerId: 7n });
    const stored: number[][] = [];
    while (stored.flat().length < 32) {
      const frames = parseLiveFrames(await sub.receive());
      if (!frames.ok) throw new Error("malformed frames");
      expect(frames.topic).toBe("kv-events");
      for (const event of decoder.decodeBatch(frames.payload)) {
        if (event.data.kind === "stored") stored.push([...event.data.tokenIds]);
      }
    }
    expect(stored.flat().slice(0, 32)).toEqual(prompt.slice(0, 32));
  });

  it("replays batches a subscriber missed, from the replay socket", async () => {
    const replay = await requestReplay(`tcp://127.0.0.1:${replayPort}`, 0n, 5000);
    expect(replay.complete).toBe(true);
    expect(replay.batches.length).toBeGreaterThan(0);
    expect(replay.batches.map((b) => b.seq)).toEqual(replay.batches.map((_, i) => BigInt(i)));
    const decoder = new EngineEventDecoder({ workerId: 8n });
    const kinds = replay.batches.flatMap((b) => decoder.decodeBatch(b.payload).map((e) => e.data.kind));
    expect(kinds[0]).toBe("stored");
  });

  it("stops at a stop token id and names it in stop_reason", async () => {
    const request = { prompt, max_tokens: 6, seed: 42, ignore_eos: true, return_token_ids: true };
    const first = await body(post(`${base}/v1/completions`, request));
    const ids: number[] = first.choices[0].token_ids;
    expect(ids).toHaveLength(6);
    const stop = ids[2];
    const again = await body(post(`${base}/v1/completions`, { ...request, stop_token_ids: [stop] }));
    expect(again.choices[0]).toMatchObject({
      finish_reason: "stop",
      stop_reason: stop,
      token_ids: ids.slice(0, 3),
    });
  });

  it("aborts a request whose client disconnects: the running gauge drops back to 0", async () => {
    const controller = new AbortController();
    const res = await post(
      `${base}/v1/completions`,
      { prompt, max_tokens: 30_000, stream: true, ignore_eos: true },
      controller.signal,
    );
    const reader = res.body?.getReader();
    await reader?.read();
    expect(await metricValue(base, "vllm:num_requests_running")).toBe(1);
    expect(await metricValue(base, "vllm:kv_cache_usage_perc")).toBeGreaterThan(0);
    controller.abort();
    await waitFor(async () => (await metricValue(base, "vllm:num_requests_running")) === 0, {
      timeoutMs: 5000,
      message: "running gauge back to 0",
    });
    expect(await metricValue(base, "vllm:generation_tokens_total")).toBeGreaterThan(0);
  });

  it("tokens in, tokens out: /inference/v1/generate", async () => {
    const whole = await body(
      post(`${base}/inference/v1/generate`, {
        token_ids: prompt,
        sampling_params: { max_tokens: 3, ignore_eos: true },
      }),
    );
    expect(whole.choices[0]).toMatchObject({ finish_reason: "length", token_ids: expect.any(Array) });
    expect(whole.choices[0].token_ids).toHaveLength(3);
    const frames = await readSse(
      await post(`${base}/inference/v1/generate`, {
        token_ids: prompt,
        stream: true,
        sampling_params: { max_tokens: 4, ignore_eos: true },
      }),
    );
    const tokens = frames.slice(0, -1).flatMap((f) => JSON.parse(f).choices[0].token_ids);
    expect(tokens).toHaveLength(4);
  });

  it("hands prefill KV to a decode leg through kv_transfer_params", async () => {
    const prefill = await body(
      post(`${base}/v1/completions`, {
        prompt,
        max_tokens: 1,
        kv_transfer_params: {
          do_remote_decode: true,
          do_remote_prefill: false,
          remote_engine_id: null,
          remote_block_ids: null,
          remote_host: null,
          remote_port: null,
        },
      }),
    );
    const params = prefill.kv_transfer_params;
    expect(params).toMatchObject({
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_block_ids: [[0, 1, 2]],
      remote_engine_id: expect.any(String),
      remote_request_id: expect.any(String),
      remote_host: expect.any(String),
      remote_port: expect.any(Number),
    });
    const decode = await body(
      post(`${base}/v1/completions`, { prompt, max_tokens: 5, ignore_eos: true, kv_transfer_params: params }),
    );
    expect(decode.usage).toMatchObject({ prompt_tokens: 40, completion_tokens: 5 });
    expect(decode.kv_transfer_params).toBeNull();
  });

  it("answers bad requests in vLLM's error shape", async () => {
    const tooLong = await post(`${base}/v1/completions`, { prompt, max_tokens: 41_000 });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({
      error: { code: 400, type: "BadRequestError", param: "max_tokens" },
    });
    const unknown = await post(`${base}/v1/completions`, { model: "nope", prompt, max_tokens: 1 });
    expect(unknown.status).toBe(404);
    const priority = await post(`${base}/v1/completions`, { prompt, max_tokens: 1, priority: 3 });
    expect((await body(Promise.resolve(priority))).error.message).toMatch(
      /Priority scheduling is not enabled/,
    );
    // Over vLLM's default --max-logprobs, and logprobs it could only give as text (it has no tokenizer).
    const tooMany = await post(`${base}/inference/v1/generate`, {
      token_ids: prompt,
      sampling_params: { max_tokens: 1, logprobs: 21 },
    });
    expect((await body(Promise.resolve(tooMany))).error).toMatchObject({
      message: "Requested sample logprobs of 21, which is greater than max allowed: 20",
      param: "logprobs",
    });
    const asText = await post(`${base}/v1/completions`, { prompt, max_tokens: 1, logprobs: 2 });
    expect(asText.status).toBe(400);
  });

  it("reports logprobs by token id: completions' dicts hold the sampled token and the top n", async () => {
    const { choices } = await body(
      post(`${base}/v1/completions`, {
        prompt,
        max_tokens: 4,
        logprobs: 2,
        return_tokens_as_token_ids: true,
        return_token_ids: true,
        ignore_eos: true,
      }),
    );
    const { token_ids: ids, logprobs } = choices[0];
    expect(logprobs.tokens).toEqual(ids.map((id: number) => `token_id:${id}`));
    expect(logprobs.token_logprobs).toHaveLength(4);
    for (const [i, dict] of logprobs.top_logprobs.entries()) {
      const keys = Object.keys(dict);
      expect(keys[0]).toBe(`token_id:${ids[i]}`);
      expect(keys.length === 2 || keys.length === 3).toBe(true);
    }
  });
});
