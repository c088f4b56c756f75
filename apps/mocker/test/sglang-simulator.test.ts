// `kvasir mocker --protocol sglang` as a real process: /health 503 while starting, /generate with input_ids
// (cumulative streaming, exact max_new_tokens, stop token ids), /abort_request ending a stream with an abort finish
// reason, metrics under SGLang's names, KV events in SGLang's positional layout with replays, SIGTERM.

import { parseLiveFrames, requestReplay, type SglangGenerateResponse } from "@kvasir/engine-wire";
import { EngineEventDecoder } from "@kvasir/kv";
import { freePort, type NodeProcess, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Subscriber } from "zeromq";
import { body, metricValue, post, readSse, startSimulator, stop } from "./engine-process.js";

const input_ids = Array.from({ length: 33 }, (_, i) => 2000 + i);

describe("kvasir mocker --protocol sglang", () => {
  let child: NodeProcess;
  let base: string;
  let replayPort: number;
  const sub = new Subscriber({ linger: 0, receiveTimeout: 5000 });

  beforeAll(async () => {
    const port = await freePort();
    const pubPort = await freePort();
    replayPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = await startSimulator([
      "--protocol",
      "sglang",
      "--model-path",
      "Qwen/Qwen3-0.6B",
      "--port",
      String(port),
      "--page-size",
      "16",
      "--speedup-ratio",
      "10",
      "--startup-delay-ms",
      "1500",
      "--enable-metrics",
      "--kv-events-config",
      JSON.stringify({
        publisher: "zmq",
        endpoint: `tcp://*:${pubPort}`,
        replay_endpoint: `tcp://*:${replayPort}`,
      }),
      "--mem-fraction-static",
      "0.8",
    ]);
    sub.connect(`tcp://127.0.0.1:${pubPort}`);
    sub.subscribe("");
  }, 30_000);

  afterAll(async () => {
    sub.close();
    if (child) expect(await stop(child)).toBe(0);
  });

  it("answers /health 503 while starting, then 200", async () => {
    expect((await fetch(`${base}/health`)).status).toBe(503);
    await waitFor(async () => (await fetch(`${base}/health`)).status === 200, { timeoutMs: 5000 });
    const info = await body(fetch(`${base}/server_info`));
    expect(info).toMatchObject({ page_size: 16, context_length: 40960, disaggregation_mode: "null" });
  });

  it("streams cumulative output_ids to exactly max_new_tokens; KV events are SGLang's", async () => {
    const frames = await readSse(
      await post(`${base}/generate`, {
        input_ids,
        sampling_params: { max_new_tokens: 5, ignore_eos: true },
        stream: true,
      }),
    );
    expect(frames.at(-1)).toBe("[DONE]");
    const chunks: SglangGenerateResponse[] = frames.slice(0, -1).map((f) => JSON.parse(f));
    const last = chunks.at(-1);
    expect(last?.output_ids).toHaveLength(5);
    expect(chunks[0]?.output_ids).toEqual(last?.output_ids.slice(0, chunks[0]?.output_ids.length));
    expect(last?.meta_info).toMatchObject({
      finish_reason: { type: "length", length: 5 },
      prompt_tokens: 33,
      completion_tokens: 5,
      e2e_latency: expect.any(Number),
    });

    const decoder = new EngineEventDecoder({ workerId: 3n });
    const stored: number[] = [];
    while (stored.length < 32) {
      const live = parseLiveFrames(await sub.receive());
      if (!live.ok) throw new Error("malformed frames");
      for (const event of decoder.decodeBatch(live.payload)) {
        if (event.data.kind === "stored") stored.push(...event.data.tokenIds);
      }
    }
    expect(stored.slice(0, 32)).toEqual(input_ids.slice(0, 32));
    // SGLang replays [seq, payload] with no topic frame; requestReplay reads both layouts.
    const replay = await requestReplay(`tcp://127.0.0.1:${replayPort}`, 0n, 5000);
    expect(replay.complete).toBe(true);
    expect(replay.batches[0]?.seq).toBe(0n);
  });

  it("stops at a stop token id (FINISH_MATCHED_TOKEN)", async () => {
    const sampling_params = { max_new_tokens: 6, ignore_eos: true, sampling_seed: 9 };
    const first = await body(post(`${base}/generate`, { input_ids, sampling_params }));
    const ids: number[] = first.output_ids;
    const again = await body(
      post(`${base}/generate`, {
        input_ids,
        sampling_params: { ...sampling_params, stop_token_ids: [ids[1]] },
      }),
    );
    expect(again.output_ids).toEqual(ids.slice(0, 2));
    expect(again.meta_info.finish_reason).toEqual({ type: "stop", matched: ids[1] });
  });

  it("/abort_request ends a running stream with an abort finish reason; the gauge drops", async () => {
    const res = await post(`${base}/generate`, {
      input_ids,
      rid: "long-one",
      sampling_params: { max_new_tokens: 30_000, ignore_eos: true },
      stream: true,
    });
    const reader = res.body?.getReader();
    await reader?.read();
    expect(await metricValue(base, "sglang:num_running_reqs")).toBe(1);
    expect((await post(`${base}/abort_request`, { rid: "long-one" })).status).toBe(200);
    let text = "";
    for (;;) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    const frames = text.split("\n\n").filter((f) => f.startsWith("data: {"));
    expect(JSON.parse(frames.at(-1)?.slice(6) ?? "{}").meta_info.finish_reason.type).toBe("abort");
    expect(await metricValue(base, "sglang:num_running_reqs")).toBe(0);
  });

  it("refuses text prompts and over-long requests in SGLang's error shape", async () => {
    const text = await post(`${base}/generate`, { text: "hi" });
    expect(text.status).toBe(400);
    expect(await text.json()).toEqual({ error: { message: expect.stringMatching(/input_ids/) } });
    const long = await post(`${base}/generate`, { input_ids, sampling_params: { max_new_tokens: 41_000 } });
    expect(long.status).toBe(400);
  });
});
