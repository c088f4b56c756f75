import type { KvEvent, LoadMetrics } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import type { KvExport, KvImport } from "../disagg/kv-transfer.js";
import { type EngineOutput, type EngineRequest, InvalidEngineRequest } from "../engine.js";
import { MockerEngine } from "./mocker.js";

const config = { speedupRatio: 1000, numGpuBlocks: 64, maxModelLen: 512 };

function request(requestId: string, maxTokens: number, promptLength = 40): EngineRequest {
  return {
    requestId,
    tokenIds: Array.from({ length: promptLength }, (_, i) => 500 + i),
    params: { maxTokens, minTokens: 0, stopTokenIds: [], ignoreEos: true },
    priority: 0,
  };
}

async function collect(stream: AsyncIterable<EngineOutput>): Promise<EngineOutput[]> {
  const out: EngineOutput[] = [];
  for await (const output of stream) out.push(output);
  return out;
}

function recorder() {
  const kv: KvEvent[] = [];
  const load: LoadMetrics[][] = [];
  return {
    kv,
    load,
    listener: { kvEvents: (b: KvEvent[]) => kv.push(...b), loadMetrics: (r: LoadMetrics[]) => load.push(r) },
  };
}

describe("MockerEngine", () => {
  it("streams token deltas with usage and a finish reason, and reports its capacity", async () => {
    const engine = new MockerEngine(config, { workerId: 5n });
    expect(engine.capacity).toMatchObject({ blockSize: 16, totalKvBlocks: 64, contextLength: 512 });
    const outputs = await collect(engine.generate(request("a", 5), new AbortController().signal));
    expect(outputs.flatMap((o) => o.tokenIds)).toHaveLength(5);
    expect(outputs.at(-1)).toMatchObject({
      finishReason: "length",
      usage: { promptTokens: 40, completionTokens: 5 },
    });
    expect(outputs.at(-1)?.disaggParams).toBeUndefined();
    await engine.close();
  });

  it("sends KV events and load metrics to its listener until unsubscribed", async () => {
    const engine = new MockerEngine(config, { workerId: 5n });
    const { kv, load, listener } = recorder();
    const unsubscribe = engine.subscribe(listener);
    await collect(engine.generate(request("a", 3), new AbortController().signal));
    expect(kv.some((e) => e.data.case === "stored" && e.workerId === 5n)).toBe(true);
    expect(load.length).toBeGreaterThan(0);
    unsubscribe();
    const seen = load.length;
    await collect(engine.generate(request("b", 3, 60), new AbortController().signal));
    expect(load.length).toBe(seen);
    await engine.close();
  });

  it("refuses a request it cannot take with InvalidEngineRequest", async () => {
    const engine = new MockerEngine(config, { workerId: 1n });
    const signal = new AbortController().signal;
    await expect(collect(engine.generate(request("x", 0), signal))).rejects.toBeInstanceOf(
      InvalidEngineRequest,
    );
    await expect(collect(engine.generate(request("y", 1, 600), signal))).rejects.toThrow(/context length/);
    expect(engine.activeRequests).toBe(0);
  });

  it("frees the blocks of an aborted request at once", async () => {
    const engine = new MockerEngine({ ...config, speedupRatio: 1 }, { workerId: 1n });
    const { load, listener } = recorder();
    engine.subscribe(listener);
    const controller = new AbortController();
    const stream = engine.generate(request("long", 400), controller.signal)[Symbol.asyncIterator]();
    await stream.next();
    expect(engine.activeRequests).toBe(1);
    controller.abort();
    expect(await stream.next()).toMatchObject({ done: true });
    expect(engine.activeRequests).toBe(0);
    expect(load.at(-1)?.[0]?.activeKvBlocks).toBe(0n);
    await engine.close();
  });

  it("exports the prompt's KV on a prefill engine's last output only when asked with do_remote_decode", async () => {
    const exported: string[] = [];
    const kv: { export: KvExport } = {
      export: {
        exportPrompt: (r) => {
          exported.push(r.requestId);
          return { do_remote_prefill: true, remote_request_id: r.requestId };
        },
        release: () => 0,
        reserve: () => true,
        unreserve: () => {},
      },
    };
    const engine = new MockerEngine(config, { workerId: 0x1fn, kv });
    const signal = new AbortController().signal;
    const prefillParams = { do_remote_decode: true, do_remote_prefill: false, remote_block_ids: null };
    const outputs = await collect(
      engine.generate({ ...request("p", 1), disaggParams: prefillParams }, signal),
    );
    expect(outputs.at(-1)?.disaggParams).toEqual({ do_remote_prefill: true, remote_request_id: "p" });
    const plain = await collect(engine.generate(request("q", 1), signal));
    expect(plain.at(-1)?.disaggParams).toBeUndefined();
    expect(exported).toEqual(["p"]);
    await engine.close();
  });

  it("imports the prompt's KV before a decode request runs, and recomputes when the import brings nothing", async () => {
    const calls: Array<{ id: string; remote: unknown }> = [];
    let tokens = 40;
    const kv: { import: KvImport } = {
      import: {
        importPrompt: async (r, remote) => {
          calls.push({ id: r.requestId, remote });
          return tokens;
        },
        abandon: () => {},
      },
    };
    const engine = new MockerEngine(config, { workerId: 2n, kv });
    const signal = new AbortController().signal;
    const decodeParams = { do_remote_prefill: true, remote_block_ids: [[0]], remote_engine_id: "e" };
    const first = await collect(engine.generate({ ...request("d", 2), disaggParams: decodeParams }, signal));
    expect(first.flatMap((o) => o.tokenIds)).toHaveLength(2);
    // Incomplete params are not pulled from: the import is told why, and its 0 means a local prefill.
    expect(calls[0]).toEqual({ id: "d", remote: expect.stringMatching(/remote_request_id/) });
    tokens = 0;
    const second = await collect(
      engine.generate({ ...request("e", 2, 60), disaggParams: decodeParams }, signal),
    );
    expect(second.at(-1)?.finishReason).toBe("length");
    // Requests without params never reach the import.
    await collect(engine.generate(request("f", 1), signal));
    expect(calls.map((c) => c.id)).toEqual(["d", "e"]);
    await engine.close();
  });

  it("ends a decode request aborted during its import without running it", async () => {
    let importSignal: AbortSignal | undefined;
    const kv: { import: KvImport } = {
      import: {
        importPrompt: (_r, _remote, signal) => {
          importSignal = signal;
          return new Promise((resolve) => signal.addEventListener("abort", () => resolve(0)));
        },
        abandon: () => {},
      },
    };
    const engine = new MockerEngine(config, { workerId: 2n, kv });
    const controller = new AbortController();
    const stream = engine
      .generate({ ...request("d", 2), disaggParams: { do_remote_prefill: true } }, controller.signal)
      [Symbol.asyncIterator]();
    const next = stream.next();
    await new Promise((r) => setImmediate(r));
    expect(engine.activeRequests).toBe(1);
    controller.abort();
    expect(await next).toMatchObject({ done: true });
    expect(importSignal?.aborted).toBe(true);
    expect(engine.activeRequests).toBe(0);
    await engine.close();
  });

  it("lets the prefill worker free its blocks when a decode request ends before its pull", async () => {
    const abandoned: string[] = [];
    const kv: { import: KvImport } = {
      import: {
        importPrompt: async () => 40,
        abandon: (remote) => abandoned.push(remote.requestId),
      },
    };
    const engine = new MockerEngine(config, { workerId: 2n, kv });
    const remote = {
      do_remote_prefill: true,
      remote_block_ids: [[0]],
      remote_engine_id: "e",
      remote_request_id: "held",
      remote_host: "h",
      remote_port: 1,
      kvasir_region: { v: 1, engine: "e", host: "h", region: 1, size: 64 },
      kvasir_bytes_per_block: 64,
      kvasir_block_checksums: ["00"],
      kvasir_num_tokens: 40,
      kvasir_release_url: "http://p",
    };
    const aborted = AbortSignal.abort();
    expect(await collect(engine.generate({ ...request("a", 2), disaggParams: remote }, aborted))).toEqual([]);
    await expect(
      collect(engine.generate({ ...request("b", 0), disaggParams: remote }, new AbortController().signal)),
    ).rejects.toBeInstanceOf(InvalidEngineRequest);
    expect(abandoned).toEqual(["held", "held"]);
    await engine.close();
  });

  it("ends running streams on close and refuses new ones", async () => {
    const engine = new MockerEngine({ ...config, speedupRatio: 1 }, { workerId: 1n });
    const stream = engine
      .generate(request("long", 400), new AbortController().signal)
      [Symbol.asyncIterator]();
    await stream.next();
    await engine.close();
    expect(await stream.next()).toMatchObject({ done: true });
    await expect(collect(engine.generate(request("late", 1), new AbortController().signal))).rejects.toThrow(
      /shutting down/,
    );
  });
});

describe("MockerEngine guided decoding, logprobs and embeddings", () => {
  // A tokenizer of one id per character, enough to check what the engine emits.
  const text = {
    eosTokenIds: [2],
    tokenizer: async () => ({
      encode: (s: string) => [...s].map((ch) => (ch.codePointAt(0) ?? 0) + 1000),
    }),
  };
  const decode = (ids: readonly number[]) =>
    String.fromCodePoint(...ids.filter((id) => id >= 1000).map((id) => id - 1000));
  const schema = {
    type: "object",
    properties: { city: { type: "string", minLength: 1 } },
    required: ["city"],
  };
  const guided = (id: string, tokenIds: number[], seed = 9n): EngineRequest => ({
    requestId: id,
    tokenIds,
    params: {
      maxTokens: 200,
      minTokens: 0,
      stopTokenIds: [2],
      ignoreEos: false,
      seed,
      structuredOutputs: { json: schema },
    },
    priority: 0,
  });

  it("emits JSON valid against the schema then EOS, and a migrated request only the rest of it", async () => {
    const engine = new MockerEngine({ ...config, eosTokenIds: [2] }, { workerId: 1n, text });
    const prompt = Array.from({ length: 20 }, (_, i) => 500 + i);
    const whole = (await collect(engine.generate(guided("g", prompt), new AbortController().signal))).flatMap(
      (o) => o.tokenIds,
    );
    expect(whole.at(-1)).toBe(2);
    const value = JSON.parse(decode(whole));
    expect(typeof value.city).toBe("string");
    // The same request moved after 5 tokens: its prompt carries them, and the new worker sends the rest.
    const moved = guided("g", [...prompt, ...whole.slice(0, 5)]);
    const rest = (await collect(engine.generate(moved, new AbortController().signal))).flatMap(
      (o) => o.tokenIds,
    );
    expect([...whole.slice(0, 5), ...rest]).toEqual(whole);
    await engine.close();
  });

  it("reports logprobs when asked and embeds an embedding request", async () => {
    const engine = new MockerEngine({ ...config, embeddingDimensions: 8 }, { workerId: 1n, text });
    const asked = { ...request("l", 4), params: { ...request("l", 4).params, logprobs: 2 } };
    const outputs = await collect(engine.generate(asked, new AbortController().signal));
    expect(outputs.flatMap((o) => o.logprobs ?? []).map((l) => l.top.length)).toEqual([2, 2, 2, 2]);
    const embed = { ...request("e", 1), params: { ...request("e", 1).params, embedding: { dimensions: 0 } } };
    const [last] = (await collect(engine.generate(embed, new AbortController().signal))).slice(-1);
    expect(last?.tokenIds).toEqual([]);
    expect(last?.embedding).toHaveLength(8);
    expect(last?.usage?.completionTokens).toBe(0);
    await engine.close();
  });
});
