// The official OpenAI SDK against `kvasir serve` (two mocker workers) plus an embedding worker, all in this process:
// structured output, forced tool calls, logprobs, n, prompt lists, embeddings, tokenize/detokenize, the developer
// role, and replies that end by EOS.
import { parseFlags } from "@kvasir/runtime";
import { start as startWorker, type Worker } from "@kvasir/worker";
import { Ajv } from "ajv";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Serving, serveCommand, start } from "../src/serve.js";

const MODEL = "Qwen/Qwen3-0.6B";
const EMBED = "kvasir/mock-embed";

let serving: Serving;
let embedder: Worker;
let client: OpenAI;

beforeAll(async () => {
  const argv = ["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", "openai-sdk-test"];
  const config = serveCommand.toConfig(
    parseFlags(serveCommand.flags, [...argv, "--speedup-ratio", "200"], {}),
  );
  serving = await start(config);
  embedder = await startWorker(
    { ...config.worker, servedModelNames: [EMBED], modelType: "embedding", disaggregationMode: "agg" },
    { planes: serving.planes },
  );
  client = new OpenAI({ baseURL: `${serving.url}/v1`, apiKey: "unused", maxRetries: 0 });
  // The embedding worker is served once the frontend's pool has seen it.
  for (let i = 0; i < 100 && !(await client.models.list()).data.some((m) => m.id === EMBED); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}, 30_000);

afterAll(async () => {
  await embedder?.stop();
  await serving?.stop();
});

const weather = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather of a city",
    parameters: {
      type: "object",
      properties: { city: { type: "string", minLength: 1 }, unit: { type: "string", enum: ["C", "F"] } },
      required: ["city", "unit"],
      additionalProperties: false,
    },
  },
};
const clock = {
  type: "function" as const,
  function: { name: "get_time", parameters: { type: "object", properties: { zone: { type: "string" } } } },
};
const ask = (content: string) => [{ role: "user" as const, content }];
const ajv = new Ajv();

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${serving.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

async function countTokens(text: string): Promise<number> {
  const { json } = await post("/v1/tokenize", { model: MODEL, prompt: text });
  return json.count as number;
}

describe("structured output", () => {
  it("answers a json_schema response_format with JSON valid against the schema", async () => {
    const schema = {
      type: "object",
      properties: {
        name: { type: "string", minLength: 1 },
        age: { type: "integer", minimum: 0, maximum: 120 },
        tags: { type: "array", items: { type: "string" }, maxItems: 3 },
      },
      required: ["name", "age", "tags"],
      additionalProperties: false,
    };
    const answer = await client.chat.completions.create({
      model: MODEL,
      messages: ask("Describe a person as JSON"),
      response_format: { type: "json_schema", json_schema: { name: "person", schema, strict: true } },
    });
    const content = answer.choices[0]?.message.content ?? "";
    expect(ajv.validate(schema, JSON.parse(content)), content).toBe(true);
    expect(answer.choices[0]?.finish_reason).toBe("stop");
  });

  it("answers json_object with a JSON object", async () => {
    const answer = await client.chat.completions.create({
      model: MODEL,
      messages: ask("JSON please"),
      response_format: { type: "json_object" },
    });
    const value: unknown = JSON.parse(answer.choices[0]?.message.content ?? "");
    expect(typeof value === "object" && value !== null && !Array.isArray(value)).toBe(true);
  });

  it("makes tool_choice required yield a tool call every time, streamed and not", async () => {
    const validate = ajv.compile(weather.function.parameters);
    for (let seed = 1; seed <= 3; seed++) {
      const answer = await client.chat.completions.create({
        model: MODEL,
        messages: ask("Weather in Paris?"),
        tools: [weather, clock],
        tool_choice: "required",
        seed,
      });
      const choice = answer.choices[0];
      expect(choice?.finish_reason).toBe("tool_calls");
      const calls = choice?.message.tool_calls ?? [];
      expect(calls.length).toBeGreaterThan(0);
      for (const call of calls) {
        if (call.type !== "function") throw new Error("expected a function call");
        expect(call.id).toMatch(/^call_/);
        expect(["get_weather", "get_time"]).toContain(call.function.name);
        const args: unknown = JSON.parse(call.function.arguments);
        if (call.function.name === "get_weather") expect(validate(args), call.function.arguments).toBe(true);
      }
    }
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: ask("Weather in Oslo?"),
      tools: [weather],
      tool_choice: { type: "function", function: { name: "get_weather" } },
      stream: true,
    });
    const names: string[] = [];
    let finish: string | null = null;
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        for (const call of choice.delta.tool_calls ?? []) names.push(call.function?.name ?? "");
        finish = choice.finish_reason ?? finish;
      }
    }
    expect(names).toEqual(["get_weather"]);
    expect(finish).toBe("tool_calls");
  });

  it("refuses an invalid schema with OpenAI's 400", async () => {
    const { status, json } = await post("/v1/chat/completions", {
      model: MODEL,
      messages: ask("x"),
      response_format: { type: "json_schema", json_schema: { name: "bad", schema: { type: "strin" } } },
    });
    expect(status).toBe(400);
    expect(json.error).toMatchObject({ type: "invalid_request_error", param: "response_format" });
  });
});

describe("logprobs", () => {
  it("reports content logprobs with top alternatives, non-streamed and streamed", async () => {
    const answer = await client.chat.completions.create({
      model: MODEL,
      messages: ask("Hi"),
      max_tokens: 6,
      logprobs: true,
      top_logprobs: 3,
    });
    const content = answer.choices[0]?.logprobs?.content ?? [];
    expect(content).toHaveLength(6);
    for (const entry of content) {
      expect(typeof entry.token).toBe("string");
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.bytes).toEqual([...new TextEncoder().encode(entry.token)]);
      expect(entry.top_logprobs).toHaveLength(3);
    }
    expect(content.map((e) => e.token).join("")).toBe(answer.choices[0]?.message.content);

    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: ask("Hi"),
      max_tokens: 6,
      logprobs: true,
      top_logprobs: 2,
      stream: true,
    });
    let streamed = 0;
    for await (const chunk of stream) {
      for (const entry of chunk.choices[0]?.logprobs?.content ?? []) {
        expect(entry.top_logprobs).toHaveLength(2);
        streamed++;
      }
    }
    expect(streamed).toBe(6);
    const none = await client.chat.completions.create({ model: MODEL, messages: ask("Hi"), max_tokens: 2 });
    expect(none.choices[0]?.logprobs).toBeNull();
  });

  it("reports legacy completions logprobs", async () => {
    const answer = await client.completions.create({
      model: MODEL,
      prompt: "Once",
      max_tokens: 5,
      logprobs: 2,
    });
    const logprobs = answer.choices[0]?.logprobs;
    expect(logprobs?.tokens).toHaveLength(5);
    expect(logprobs?.token_logprobs).toHaveLength(5);
    expect(logprobs?.text_offset?.[0]).toBe(0);
    for (const top of logprobs?.top_logprobs ?? []) expect(Object.keys(top).length).toBeGreaterThanOrEqual(2);
  });
});

describe("several choices", () => {
  it("answers n: 3 with three choices, streamed interleaved and not", async () => {
    const answer = await client.chat.completions.create({
      model: MODEL,
      messages: ask("Hi"),
      n: 3,
      max_tokens: 8,
    });
    expect(answer.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(new Set(answer.choices.map((c) => c.message.content)).size).toBe(3);
    expect(answer.usage?.completion_tokens).toBe(24);

    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: ask("Hi"),
      n: 3,
      max_tokens: 8,
      stream: true,
      stream_options: { include_usage: true },
    });
    const finished = new Set<number>();
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      for (const choice of chunk.choices) if (choice.finish_reason) finished.add(choice.index);
      usage = chunk.usage ?? usage;
    }
    expect([...finished].sort()).toEqual([0, 1, 2]);
    expect(usage?.completion_tokens).toBe(24);
  });

  it("indexes a list of prompts' choices across prompts", async () => {
    const answer = await client.completions.create({
      model: MODEL,
      prompt: ["One", "Two words"],
      n: 2,
      max_tokens: 3,
    });
    expect(answer.choices.map((c) => c.index)).toEqual([0, 1, 2, 3]);
    const one = await countTokens("One");
    const two = await countTokens("Two words");
    expect(answer.usage?.prompt_tokens).toBe(one + two);
    expect(answer.usage?.completion_tokens).toBe(12);
  });

  it("echoes the prompt alone for max_tokens 0 on completions, and refuses it on chat as OpenAI does", async () => {
    const answer = await client.completions.create({
      model: MODEL,
      prompt: "Just this",
      max_tokens: 0,
      echo: true,
    });
    expect(answer.choices[0]?.text).toBe("Just this");
    expect(answer.usage?.completion_tokens).toBe(0);
    const { status, json } = await post("/v1/chat/completions", {
      model: MODEL,
      messages: ask("x"),
      max_tokens: 0,
    });
    expect(status).toBe(400);
    expect(json.error).toMatchObject({ param: "max_tokens", code: "integer_below_min_value" });
  });
});

describe("embeddings, tokenize and detokenize", () => {
  it("embeds as deterministic unit vectors, as floats or base64, with usage", async () => {
    const answer = await client.embeddings.create({
      model: EMBED,
      input: ["a cat", "a dog"],
      encoding_format: "float",
    });
    expect(answer.object).toBe("list");
    expect(answer.data.map((d) => d.index)).toEqual([0, 1]);
    const [cat, dog] = answer.data.map((d) => d.embedding);
    expect(cat).toHaveLength(1024);
    expect(Math.hypot(...(cat ?? []))).toBeCloseTo(1, 5);
    expect(cat).not.toEqual(dog);
    expect(answer.usage.prompt_tokens).toBeGreaterThan(2);
    // The SDK asks for base64 by default and decodes it.
    const again = await client.embeddings.create({ model: EMBED, input: "a cat", dimensions: 64 });
    expect(again.data[0]?.embedding).toHaveLength(64);
    const refused = await post("/v1/chat/completions", { model: EMBED, messages: ask("Hi") });
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatchObject({ param: "model" });
    const notEmbedding = await post("/v1/embeddings", { model: MODEL, input: "x" });
    expect(notEmbedding.status).toBe(400);
    const full = await client.embeddings.create({ model: EMBED, input: "a cat" });
    expect(full.data[0]?.embedding.slice(0, 4)).toEqual(cat?.slice(0, 4).map((v) => Math.fround(v)));
  });

  it("round-trips text through /v1/tokenize and /v1/detokenize", async () => {
    const text = "Kvasir tokenizes this sentence.";
    const tokenized = await post("/v1/tokenize", { model: MODEL, prompt: text, return_token_strs: true });
    expect(tokenized.status).toBe(200);
    const tokens = tokenized.json.tokens as number[];
    expect(tokenized.json.count).toBe(tokens.length);
    expect(tokenized.json.max_model_len).toBe(40960);
    expect(tokenized.json.token_strs).toHaveLength(tokens.length);
    const detokenized = await post("/v1/detokenize", { model: MODEL, tokens });
    expect(detokenized.json.prompt).toBe(text);
  });

  it("puts a developer message in the prompt as the system prompt", async () => {
    const messages = [
      { role: "developer", content: "Answer like a pirate." },
      { role: "user", content: "Hi" },
    ];
    const tokenized = await post("/v1/tokenize", { model: MODEL, messages });
    const prompt = await post("/v1/detokenize", { model: MODEL, tokens: tokenized.json.tokens });
    expect(prompt.json.prompt).toContain("<|im_start|>system\nAnswer like a pirate.");
    const without = await client.chat.completions.create({
      model: MODEL,
      messages: ask("Hi"),
      max_tokens: 1,
    });
    const withDev = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: "developer", content: "Answer like a pirate." }, ...ask("Hi")],
      max_tokens: 1,
    });
    expect(withDev.usage?.prompt_tokens).toBe(tokenized.json.count);
    expect(withDev.usage?.prompt_tokens).toBeGreaterThan(without.usage?.prompt_tokens ?? 0);
  });
});

describe("replies end", () => {
  it("ends a reply without max_tokens by EOS after a few hundred tokens", async () => {
    const answer = await client.chat.completions.create({ model: MODEL, messages: ask("Tell me a story") });
    expect(answer.choices[0]?.finish_reason).toBe("stop");
    const tokens = answer.usage?.completion_tokens ?? 0;
    expect(tokens).toBeGreaterThanOrEqual(128);
    expect(tokens).toBeLessThanOrEqual(384);
  });
});
