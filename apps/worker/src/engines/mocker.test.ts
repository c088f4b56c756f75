import type { KvEvent, LoadMetrics } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
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

  it("returns transfer parameters on a prefill engine's last output", async () => {
    const engine = new MockerEngine(config, { workerId: 0x1fn, prefill: true });
    const outputs = await collect(engine.generate(request("p", 1), new AbortController().signal));
    expect(outputs.at(-1)?.disaggParams).toMatchObject({
      do_remote_prefill: true,
      remote_engine_id: "000000000000001f",
      remote_request_id: "p",
    });
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
