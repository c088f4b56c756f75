// Large prompts: tokenized on a pool thread to the same ids as inline, and refused before tokenizing when they
// cannot fit the context (OpenAI's 400 on the OpenAI paths).
import { defaultModelDir } from "@kvasir/llm";
import type { ModelDeploymentCard } from "@kvasir/protocol";
import { WorkerService } from "@kvasir/protocol";
import { createClient, createDiscovery, formatInstanceId } from "@kvasir/runtime";
import { callWorker, WorkerPool } from "@kvasir/serving";
import { createLogger, createMetricsRegistry } from "@kvasir/telemetry";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import { ModelRegistry } from "../src/model-registry.js";
import {
  detokenize,
  loadPreprocessor,
  type Preprocessor,
  preprocessorLoader,
  tokenizeChat,
  tokenizeForClient,
  tokenizeText,
} from "../src/preprocessor.js";
import { TokenizerPool } from "../src/tokenizer-pool.js";

const MODEL = "Qwen/Qwen3-0.6B";
const card: ModelDeploymentCard = {
  name: MODEL,
  aliases: [],
  tokenizerPath: defaultModelDir(),
  contextLength: 4096,
  kvCacheBlockSize: 16,
  modelTypes: ["chat", "completions"],
  runtimeConfig: { totalKvBlocks: 1024, maxNumSeqs: 8, maxNumBatchedTokens: 2048, dataParallelSize: 1 },
};

let pool: TokenizerPool;

beforeAll(() => {
  pool = new TokenizerPool({ threads: 1 });
});

afterAll(async () => {
  await pool.close();
});

const words = (chars: number) =>
  "the quick brown fox jumps over the lazy dog ".repeat(chars / 44 + 1).slice(0, chars);

describe("the tokenizer pool", () => {
  it("templates and tokenizes a large chat on a thread to the same ids as inline", async () => {
    const inline = await loadPreprocessor(defaultModelDir(), card);
    const offloaded = await preprocessorLoader(pool)(defaultModelDir(), card);
    const input = { messages: [{ role: "user", content: words(20_000) }], addGenerationPrompt: true };
    const options = { contextLength: 1_000_000 };
    const [a, b] = await Promise.all([
      tokenizeChat(inline, input, options),
      tokenizeChat(offloaded, input, options),
    ]);
    expect(b.tokenIds).toEqual(a.tokenIds);
    expect(b.prompt).toBe(a.prompt);
    expect(await tokenizeText(offloaded, words(20_000), options)).toEqual(
      await tokenizeText(inline, words(20_000), options),
    );
  }, 30_000);

  it("serves /v1/tokenize, /v1/detokenize and a continued prefill of large inputs from a thread, as inline", async () => {
    const inline = await loadPreprocessor(defaultModelDir(), card);
    const offloaded = await preprocessorLoader(pool)(defaultModelDir(), card);
    const before = pool.completed;
    const both = <T>(run: (pre: Preprocessor) => Promise<T>) => Promise.all([run(inline), run(offloaded)]);

    const asks = { addSpecialTokens: true, tokenStrs: true };
    const [a, b] = await both((pre) => tokenizeForClient(pre, { text: words(20_000) }, asks));
    expect(b).toEqual(a);
    expect(b.tokenStrs).toHaveLength(b.tokenIds.length);
    // No context bound on /v1/tokenize: 200k characters are counted, not refused (the context is 4096).
    const chat = { messages: [{ role: "user", content: words(200_000) }], addGenerationPrompt: true };
    const [c, d] = await both((pre) => tokenizeForClient(pre, { chat }, { ...asks, tokenStrs: false }));
    expect(d.tokenIds).toEqual(c.tokenIds);
    expect(d.tokenIds.length).toBeGreaterThan(card.contextLength);

    const skip = { skipSpecialTokens: false };
    const [e, f] = await both((pre) => detokenize(pre, c.tokenIds, skip));
    expect(f).toBe(e);
    expect(f).toContain(words(200_000));

    const prefill = {
      messages: [
        { role: "user", content: words(20_000) },
        { role: "assistant", content: "The answer is" },
      ],
      addGenerationPrompt: false,
    };
    const continued = { contextLength: 1_000_000, continueFinal: "The answer is" };
    const [g, h] = await both((pre) => tokenizeChat(pre, prefill, continued));
    expect(h).toEqual(g);
    expect(h.prompt.endsWith("The answer is")).toBe(true);
    // Four went to the threads (tokenize text, tokenize chat, detokenize, prefill); nothing inline did.
    expect(pool.completed - before).toBe(4);
  }, 30_000);
});

describe("a prompt that cannot fit", () => {
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    const workers = new WorkerPool(await createDiscovery({ backend: "memory" }), {
      namespace: "test",
      component: "backend",
    });
    const id = formatInstanceId(1n);
    workers.apply({ type: "put", key: `v1/mdc/test/${MODEL}/${id}`, value: card });
    workers.apply({
      type: "put",
      key: `v1/instances/test/backend/generate/${id}`,
      value: { address: "http://127.0.0.1:9", transport: "connect-h2c", metadata: {} },
    });
    app = createApp({
      models: new ModelRegistry<Preprocessor>({ pools: [workers], load: preprocessorLoader(pool) }),
      generate: callWorker((address) => createClient(WorkerService, address)),
      metrics: createMetricsRegistry(),
      log: createLogger("frontend-test", {}, { level: "error" }),
      config: {
        requestTimeoutSeconds: 30,
        maxBodyBytes: 4 * 1024 * 1024,
        migrationLimit: 0,
        enableAnthropicApi: true,
      },
    });
  });

  // 4096 tokens of at most 128 bytes (Qwen3's longest token) hold 524,288 bytes at most.
  const tooLong = "x".repeat(600_000);

  it("is refused on /v1/chat/completions with OpenAI's context_length_exceeded, before tokenizing", async () => {
    const res = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content: tooLong }] }),
    });
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: Record<string, unknown> };
    expect(error).toMatchObject({
      type: "invalid_request_error",
      code: "context_length_exceeded",
      param: "messages",
    });
    // The bound's count, not a tokenizer's: the prompt was not tokenized.
    expect(error.message).toMatch(/at least \d+ tokens/);
  });

  it("is refused on Anthropic's /v1/messages in Anthropic's error shape", async () => {
    const res = await app.request("/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, max_tokens: 8, messages: [{ role: "user", content: tooLong }] }),
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { type: string; error: { type: string; message: string } };
    expect(body.type).toBe("error");
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.message).toMatch(/maximum context length is 4096 tokens.*at least \d+ tokens/);
  });

  it("is refused on /v1/completions the same way, naming the prompt", async () => {
    const res = await app.request("/v1/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, prompt: tooLong }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: unknown }).error).toMatchObject({
      code: "context_length_exceeded",
      param: "prompt",
    });
  });
});
