// The engines' own wire shapes (fixtures/, provenance in fixtures/README.md) decoded and re-encoded by our code,
// byte for byte: KV event payloads and ZMQ frames (through a real publisher), HTTP bodies, SSE streams, metrics.
import { readFileSync } from "node:fs";
import { EngineEventDecoder } from "@kvasir/kv";
import { decode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import { Dealer, Subscriber } from "zeromq";
import { encodeBatchArray } from "../src/batch-encoding.js";
import { formatPrometheusText, parseEngineMetrics, parsePrometheusFamilies } from "../src/engine-metrics.js";
import {
  encodeSseJson,
  KvEventPublisher,
  parseSseBody,
  type SglangGenerateResponse,
  SSE_DONE,
  SSE_DONE_FRAME,
  sglangAllBlocksCleared,
  sglangBlockRemoved,
  sglangBlockStored,
  sglangGenerateOutput,
  sglangMetaInfo,
  type VllmCompletionResponse,
  type VllmCompletionStreamResponse,
  type VllmGenerateResponse,
  type VllmGenerateStreamResponse,
  type VllmModelList,
  vllmAllBlocksCleared,
  vllmBlockRemoved,
  vllmBlockStored,
  vllmCompletionChunk,
  vllmCompletionResponse,
  vllmCompletionUsageChunk,
  vllmGenerateChunk,
  vllmGenerateResponse,
  vllmModelList,
  vllmUsage,
} from "../src/index.js";

const dir = new URL("../fixtures/", import.meta.url);
const text = (path: string) => readFileSync(new URL(path, dir), "utf8");

interface KvFixture {
  topic: string;
  live: string[][];
  replay: string[][];
  replayFrom: number;
}
const kvFixture = (engine: string): KvFixture => JSON.parse(text(`${engine}/kv-events.json`));
const hex = (s: string) => Buffer.from(s, "hex");

function asRecord(value: unknown): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a map");
  return Object.fromEntries(Object.entries(value));
}
function asArray(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new Error("not an array");
  return value;
}
const big = (v: unknown): bigint => {
  if (typeof v === "bigint" || typeof v === "number") return BigInt(v);
  throw new Error("not an int");
};
const nums = (v: unknown): number[] => asArray(v).map(Number);

/** Rebuilds a vLLM map-layout event with our constructors. */
function rebuildVllm(raw: unknown): unknown {
  const ev = asRecord(raw);
  switch (ev.type) {
    case "BlockStored":
      return vllmBlockStored(
        nums(ev.token_ids),
        Number(ev.block_size),
        asArray(ev.block_hashes).map(big),
        ev.parent_block_hash === null ? null : big(ev.parent_block_hash),
        typeof ev.lora_name === "string" ? ev.lora_name : null,
      );
    case "BlockRemoved":
      return vllmBlockRemoved(asArray(ev.block_hashes).map(big));
    default:
      return vllmAllBlocksCleared();
  }
}

/** Rebuilds an SGLang positional event with our constructors. */
function rebuildSglang(raw: unknown): unknown {
  const ev = asArray(raw);
  switch (ev[0]) {
    case "BlockStored":
      return sglangBlockStored(
        nums(ev[3]),
        Number(ev[4]),
        asArray(ev[1]).map(big),
        ev[2] === null ? null : big(ev[2]),
      );
    case "BlockRemoved":
      return sglangBlockRemoved(asArray(ev[1]).map(big));
    default:
      return sglangAllBlocksCleared();
  }
}

describe.each([
  ["vllm", rebuildVllm, true],
  ["sglang", rebuildSglang, false],
] as const)("%s KV events", (engine, rebuild, replayTopic) => {
  const fixture = kvFixture(engine);
  const payloads = fixture.live.map((frames) => hex(frames[2] ?? ""));

  it("re-encodes every batch byte for byte", () => {
    for (const payload of payloads) {
      const [ts, events, rank] = asArray(decode(payload, { useBigInt64: true }));
      const rebuilt = encodeBatchArray(Number(ts), asArray(events).map(rebuild), Number(rank));
      expect(Buffer.from(rebuilt).toString("hex")).toBe(payload.toString("hex"));
    }
  });

  it("decodes with @kvasir/kv into one chain stored, then removed, then cleared", () => {
    const decoder = new EngineEventDecoder({ workerId: 1n });
    const kinds = payloads.flatMap((p) => decoder.decodeBatch(p).map((e) => e.data.kind));
    expect(kinds[0]).toBe("stored");
    expect(kinds).toContain("removed");
    expect(kinds.at(-1)).toBe("cleared");
    expect(Object.values(decoder.drops).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it("leaves a real publisher in the engine's live and replay frame layout", async () => {
    const publisher = await KvEventPublisher.open({
      endpoint: "tcp://127.0.0.1:0",
      replayEndpoint: "tcp://127.0.0.1:0",
      topic: fixture.topic,
      bufferSteps: 16,
      replayTopic,
    });
    const sub = new Subscriber({ linger: 0, receiveTimeout: 5000 });
    const dealer = new Dealer({ linger: 0, receiveTimeout: 5000 });
    try {
      sub.connect(publisher.endpoint);
      sub.subscribe(fixture.topic);
      await publisher.subscribed();
      for (const payload of payloads) await publisher.publishPayload(payload);
      for (const expected of fixture.live) {
        const frames = await sub.receive();
        expect(frames.map((f) => f.toString("hex"))).toEqual(expected);
      }
      dealer.connect(publisher.replayEndpoint ?? "");
      const from = Buffer.alloc(8);
      from.writeBigUInt64BE(BigInt(fixture.replayFrom));
      await dealer.send(["", from]);
      for (const expected of fixture.replay) {
        const frames = await dealer.receive();
        // The DEALER sees the ROUTER's empty delimiter first.
        expect(frames.map((f) => f.toString("hex"))).toEqual(["", ...expected]);
      }
    } finally {
      sub.close();
      dealer.close();
      await publisher.close();
    }
  });
});

function sameJson<T>(path: string, rebuild: (parsed: T) => unknown): void {
  const raw = text(path);
  expect(JSON.stringify(rebuild(JSON.parse(raw)))).toBe(raw);
}

function sameSse<T>(path: string, rebuild: (parsed: T) => unknown): void {
  const raw = text(path);
  const frames = parseSseBody(raw);
  expect(frames.at(-1)).toBe(SSE_DONE);
  const encoded = frames.slice(0, -1).map((f) => encodeSseJson(rebuild(JSON.parse(f))));
  expect(encoded.join("") + SSE_DONE_FRAME).toBe(raw);
}

describe("vLLM HTTP bodies", () => {
  it("requests round-trip", () => {
    sameJson("vllm/completion-request.body", (x: unknown) => x);
    sameJson("vllm/generate-request.body", (x: unknown) => x);
  });

  it("streamed /v1/completions chunks", () => {
    sameSse("vllm/completion-stream.sse", (c: VllmCompletionStreamResponse) => {
      const head = { id: c.id, created: c.created, model: c.model };
      const choice = c.choices[0];
      if (!choice) {
        if (!c.usage) throw new Error("usage chunk without usage");
        return vllmCompletionUsageChunk(
          head,
          vllmUsage(c.usage.prompt_tokens, c.usage.completion_tokens ?? 0),
        );
      }
      return vllmCompletionChunk(head, {
        index: choice.index,
        text: choice.text,
        finishReason: choice.finish_reason,
        stopReason: choice.stop_reason,
        promptTokenIds: choice.prompt_token_ids ?? null,
        tokenIds: choice.token_ids ?? null,
      });
    });
  });

  it("a whole /v1/completions response with kv_transfer_params", () => {
    sameJson("vllm/completion-response.body", (r: VllmCompletionResponse) =>
      vllmCompletionResponse(
        { id: r.id, created: r.created, model: r.model },
        r.choices.map((c) => ({
          text: c.text,
          finishReason: c.finish_reason,
          stopReason: c.stop_reason,
          tokenIds: c.token_ids ?? null,
          promptTokenIds: c.prompt_token_ids ?? null,
        })),
        vllmUsage(r.usage.prompt_tokens, r.usage.completion_tokens ?? 0),
        r.kv_transfer_params ?? null,
      ),
    );
  });

  it("/inference/v1/generate, streamed and whole", () => {
    sameSse("vllm/generate-stream.sse", (c: VllmGenerateStreamResponse) => {
      const choice = c.choices[0];
      if (!choice) throw new Error("no choice");
      return vllmGenerateChunk(c.request_id, {
        index: choice.index,
        finishReason: choice.finish_reason,
        tokenIds: choice.token_ids ?? [],
      });
    });
    sameJson("vllm/generate-response.body", (r: VllmGenerateResponse) => {
      if (!r.usage || r.model == null || r.created == null) throw new Error("incomplete");
      return vllmGenerateResponse(
        { requestId: r.request_id, model: r.model, created: r.created },
        r.choices.map((c) => ({ finishReason: c.finish_reason, tokenIds: c.token_ids ?? [] })),
        vllmUsage(r.usage.prompt_tokens, r.usage.completion_tokens ?? 0),
      );
    });
  });

  it("/v1/models and the error body", () => {
    sameJson("vllm/models.body", (l: VllmModelList) => {
      const card = l.data[0];
      if (!card) throw new Error("no card");
      const permission = asRecord(card.permission[0]);
      return vllmModelList({
        id: card.id,
        root: card.root ?? card.id,
        maxModelLen: card.max_model_len ?? 0,
        created: card.created,
        permissionId: String(permission.id),
      });
    });
    sameJson("vllm/error.body", (x: unknown) => x);
  });

  it("/metrics", () => {
    const raw = text("vllm/metrics.txt");
    expect(formatPrometheusText(parsePrometheusFamilies(raw))).toBe(raw);
    expect(parseEngineMetrics("vllm", raw)).toEqual({
      runningRequests: 2,
      waitingRequests: 1,
      kvUsage: 0.0625,
      blockSize: 16,
      totalBlocks: 2048,
    });
  });
});

describe("SGLang HTTP bodies", () => {
  const rebuild = (r: SglangGenerateResponse) => {
    const m = r.meta_info;
    return sglangGenerateOutput(
      r.text,
      r.output_ids,
      sglangMetaInfo({
        id: m.id,
        finishReason: m.finish_reason,
        promptTokens: m.prompt_tokens,
        completionTokens: m.completion_tokens,
        cachedTokens: m.cached_tokens,
        ...(typeof m.e2e_latency === "number" ? { e2eLatency: m.e2e_latency } : {}),
      }),
    );
  };

  it("/generate streamed (cumulative) and whole", () => {
    sameJson("sglang/generate-request.body", (x: unknown) => x);
    sameSse("sglang/generate-stream.sse", rebuild);
    sameJson("sglang/generate-response.body", rebuild);
  });

  it("/abort_request, /get_model_info", () => {
    sameJson("sglang/abort-request.body", (x: unknown) => x);
    sameJson("sglang/model-info.body", (x: unknown) => x);
  });

  it("/metrics", () => {
    const raw = text("sglang/metrics.txt");
    expect(formatPrometheusText(parsePrometheusFamilies(raw))).toBe(raw);
    expect(parseEngineMetrics("sglang", raw)).toEqual({
      runningRequests: 3,
      waitingRequests: 0,
      kvUsage: 0.125,
      blockSize: 16,
      totalBlocks: 4096,
    });
  });
});
