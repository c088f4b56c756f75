// The official `openai` (Responses API) and `@anthropic-ai/sdk` packages against `kvasir serve` in this process
// (memory planes, one mocker worker, the hermes tool-call and qwen3 reasoning parsers).
import Anthropic from "@anthropic-ai/sdk";
import { parseFlags } from "@kvasir/runtime";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Serving, serveCommand, start } from "../src/serve.js";

const MODEL = "Qwen/Qwen3-0.6B";

let serving: Serving;
let openai: OpenAI;
let anthropic: Anthropic;

beforeAll(async () => {
  const argv = [
    "--http-host",
    "127.0.0.1",
    "--http-port",
    "0",
    "--namespace",
    "serve-responses-anthropic-test",
    "--workers",
    "1",
    "--speedup-ratio",
    "100",
    "--dyn-tool-call-parser",
    "hermes",
    "--dyn-reasoning-parser",
    "qwen3",
    "--strip-anthropic-preamble",
  ];
  serving = await start(serveCommand.toConfig(parseFlags(serveCommand.flags, argv, {})));
  openai = new OpenAI({ baseURL: `${serving.url}/v1`, apiKey: "unused", maxRetries: 0 });
  anthropic = new Anthropic({ baseURL: serving.url, apiKey: "unused", maxRetries: 0 });
});

afterAll(async () => {
  await serving?.stop();
});

const weather: OpenAI.Responses.FunctionTool = {
  type: "function",
  name: "get_weather",
  description: "The weather in a city",
  parameters: {
    type: "object",
    properties: { city: { type: "string" } },
    required: ["city"],
    additionalProperties: false,
  },
  strict: true,
};

/** vLLM's `ignore_eos` extension, which the frontend takes: replies of exactly the tokens asked. */
const IGNORE_EOS = { ignore_eos: true };

describe("Responses API", () => {
  it("creates a response with a message item, usage and a resp_ id, and retrieves and deletes it", async () => {
    const response = await openai.responses.create({
      model: MODEL,
      instructions: "Be brief.",
      input: "Say hello",
      max_output_tokens: 12,
      temperature: 0.5,
    });
    expect(response.object).toBe("response");
    expect(response.id).toMatch(/^resp_/);
    expect(["completed", "incomplete"]).toContain(response.status);
    expect(response.instructions).toBe("Be brief.");
    const message = response.output.find((item) => item.type === "message");
    expect(message?.type === "message" && message.id.startsWith("msg_")).toBe(true);
    expect(response.output_text.length).toBeGreaterThan(0);
    expect(response.usage?.output_tokens).toBeLessThanOrEqual(12);
    expect(response.usage?.input_tokens).toBeGreaterThan(5);
    expect(response.usage?.input_tokens_details.cached_tokens).toBeGreaterThanOrEqual(0);
    expect(response.usage?.total_tokens).toBe(
      (response.usage?.input_tokens ?? 0) + (response.usage?.output_tokens ?? 0),
    );

    const again = await openai.responses.retrieve(response.id);
    expect(again.id).toBe(response.id);
    expect(again.output).toEqual(response.output);
    await openai.responses.delete(response.id);
    await expect(openai.responses.retrieve(response.id)).rejects.toMatchObject({ status: 404 });
  });

  it("says a response cut by max_output_tokens is incomplete", async () => {
    const response = await openai.responses.create({
      model: MODEL,
      input: [{ role: "user", content: "Write a long story" }],
      max_output_tokens: 4,
      ignore_eos: true,
    } as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    expect(response.status).toBe("incomplete");
    expect(response.incomplete_details?.reason).toBe("max_output_tokens");
    expect(response.usage?.output_tokens).toBe(4);
  });

  it("streams the typed events in order, with increasing sequence numbers", async () => {
    const stream = await openai.responses.create({
      model: MODEL,
      input: "Count to ten",
      max_output_tokens: 16,
      stream: true,
    });
    const types: string[] = [];
    const sequence: number[] = [];
    let deltas = "";
    let final: OpenAI.Responses.Response | undefined;
    for await (const event of stream) {
      types.push(event.type);
      sequence.push(event.sequence_number);
      if (event.type === "response.output_text.delta") deltas += event.delta;
      if (event.type === "response.completed" || event.type === "response.incomplete") final = event.response;
    }
    expect(types.slice(0, 2)).toEqual(["response.created", "response.in_progress"]);
    expect(sequence).toEqual(sequence.map((_, i) => i));
    // Every item added is done before the response ends; a message's text part is opened and closed around deltas.
    expect(types.filter((t) => t === "response.output_item.added").length).toBe(
      types.filter((t) => t === "response.output_item.done").length,
    );
    const message = types.indexOf("response.content_part.added");
    if (deltas.length > 0) {
      expect(types.slice(message, message + 2)).toEqual([
        "response.content_part.added",
        "response.output_text.delta",
      ]);
      expect(types).toContain("response.output_text.done");
      expect(types).toContain("response.content_part.done");
    }
    expect(["response.completed", "response.incomplete"]).toContain(types.at(-1));
    expect(final?.usage?.output_tokens).toBeGreaterThan(0);
    expect(final?.output_text ?? deltas).toBe(deltas);
  });

  it("returns the output text's logprobs when included, streamed with each delta and whole", async () => {
    const ask = {
      model: MODEL,
      input: "Count to ten",
      max_output_tokens: 6,
      include: ["message.output_text.logprobs" as const],
      top_logprobs: 2,
      // No reasoning: every token is the message's text, so each has its logprob.
      reasoning: { effort: "none" as const },
      ...IGNORE_EOS,
    };
    const whole = await openai.responses.create(ask);
    const message = whole.output.find((item) => item.type === "message");
    const part = message?.type === "message" ? message.content[0] : undefined;
    const logprobs = part?.type === "output_text" ? (part.logprobs ?? []) : [];
    expect(logprobs).toHaveLength(6);
    for (const entry of logprobs) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.top_logprobs).toHaveLength(2);
    }

    const stream = await openai.responses.create({ ...ask, stream: true });
    const deltas: unknown[] = [];
    let done: unknown[] = [];
    for await (const event of stream) {
      if (event.type === "response.output_text.delta") deltas.push(...event.logprobs);
      if (event.type === "response.output_text.done") done = event.logprobs;
    }
    expect(deltas).toHaveLength(6);
    expect(done).toEqual(deltas);

    const plain = await openai.responses.create({ ...ask, include: [] });
    const plainPart = plain.output.find((item) => item.type === "message");
    expect(plainPart?.type === "message" && plainPart.content[0]).toMatchObject({ logprobs: [] });
  });

  it("builds the final response with the SDK's stream helper", async () => {
    const runner = openai.responses.stream({ model: MODEL, input: "Tell me a story", max_output_tokens: 10 });
    const deltas: string[] = [];
    runner.on("response.output_text.delta", (event) => deltas.push(event.delta));
    const final = await runner.finalResponse();
    expect(final.id).toMatch(/^resp_/);
    expect(final.output_text).toBe(deltas.join(""));
  });

  it("continues a conversation with previous_response_id, the earlier turns in the prompt", async () => {
    // Long enough to fill whole KV blocks of its own (16 tokens each): those are what the next turn finds cached,
    // whatever the sampled reply was.
    const first = await openai.responses.create({
      model: MODEL,
      input:
        "My name is Ada. I write programs for the Analytical Engine and keep notes on every one of them.",
      max_output_tokens: 8,
    });
    const second = await openai.responses.create({
      model: MODEL,
      previous_response_id: first.id,
      input: "What is my name?",
      max_output_tokens: 8,
    });
    expect(second.previous_response_id).toBe(first.id);
    // The second prompt holds the first exchange: more input tokens than the first turn's prompt and answer.
    const firstTurn = (first.usage?.input_tokens ?? 0) + (first.usage?.output_tokens ?? 0);
    expect(second.usage?.input_tokens).toBeGreaterThan(firstTurn);
    // The worker had the first prompt's blocks cached: the continued conversation reuses them.
    expect(second.usage?.input_tokens_details.cached_tokens).toBeGreaterThan(0);

    // input_items lists what the second response was generated from: the first turn's input and output, then its
    // own input; newest first by default; the SDK's cursor pages follow last_id.
    const listed = await openai.responses.inputItems.list(second.id, { order: "asc" });
    const all = [];
    for await (const item of openai.responses.inputItems.list(second.id, { order: "asc", limit: 1 })) {
      all.push(item);
    }
    expect(all).toEqual(listed.data);
    expect(listed.data.map((item) => item.id)).toEqual([
      listed.data[0]?.id,
      ...first.output.map((item) => item.id),
      listed.data.at(-1)?.id,
    ]);
    expect(listed.data.at(-1)).toMatchObject({
      type: "message",
      role: "user",
      content: [{ type: "input_text", text: "What is my name?" }],
    });
    const newest = await openai.responses.inputItems.list(second.id, { limit: 1 });
    expect(newest.data.map((item) => item.id)).toEqual([listed.data.at(-1)?.id]);
    expect(newest.has_more).toBe(true);
    await expect(openai.responses.inputItems.list("resp_unknown")).rejects.toMatchObject({
      status: 404,
      error: { message: "Response with id 'resp_unknown' not found.", param: "id" },
    });

    const alone = await openai.responses.create({
      model: MODEL,
      input: "x",
      max_output_tokens: 2,
      store: false,
    });
    await expect(openai.responses.retrieve(alone.id)).rejects.toMatchObject({ status: 404 });
    await expect(
      openai.responses.create({
        model: MODEL,
        previous_response_id: alone.id,
        input: "again",
        max_output_tokens: 2,
      }),
    ).rejects.toMatchObject({
      status: 400,
      param: "previous_response_id",
      code: "previous_response_not_found",
    });
  });

  it("takes function tools, function call items and their outputs as input", async () => {
    const response = await openai.responses.create({
      model: MODEL,
      tools: [weather],
      input: [
        { role: "developer", content: "Answer from tool results." },
        { role: "user", content: "Weather in Oslo?" },
        { type: "function_call", call_id: "call_1", name: "get_weather", arguments: '{"city":"Oslo"}' },
        { type: "function_call_output", call_id: "call_1", output: "Sunny, 21 C" },
      ],
      max_output_tokens: 8,
    });
    expect(response.tools).toMatchObject([{ type: "function", name: "get_weather" }]);
    expect(response.usage?.input_tokens).toBeGreaterThan(40);
  });

  it("answers tool_choice required with a function call valid against the tool's schema, and continues from it", async () => {
    const response = await openai.responses.create({
      model: MODEL,
      tools: [weather],
      tool_choice: "required",
      input: "Weather in Oslo?",
      max_output_tokens: 200,
    });
    const call = response.output.find((item) => item.type === "function_call");
    expect(call?.type).toBe("function_call");
    if (call?.type !== "function_call") return;
    expect(call.name).toBe("get_weather");
    expect(call.call_id).toMatch(/^call_/);
    expect(call.id).toMatch(/^fc_/);
    const args = JSON.parse(call.arguments) as { city: unknown };
    expect(typeof args.city).toBe("string");
    expect(Object.keys(args)).toEqual(["city"]);

    const next = await openai.responses.create({
      model: MODEL,
      previous_response_id: response.id,
      tools: [weather],
      input: [{ type: "function_call_output", call_id: call.call_id, output: "Sunny, 21 C" }],
      max_output_tokens: 8,
    });
    expect(next.output.some((item) => item.type === "message")).toBe(true);
  });

  it("streams a named function call as its item and argument events", async () => {
    const stream = await openai.responses.create({
      model: MODEL,
      tools: [weather],
      tool_choice: { type: "function", name: "get_weather" },
      input: "Weather in Paris?",
      max_output_tokens: 200,
      stream: true,
    });
    const types: string[] = [];
    let args = "";
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === "response.function_call_arguments.done") args = event.arguments;
    }
    const added = types.indexOf("response.output_item.added");
    expect(types.slice(added, added + 4)).toEqual([
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
    ]);
    expect(typeof (JSON.parse(args) as { city: unknown }).city).toBe("string");
  });

  it("answers text.format json_schema with JSON valid against the schema", async () => {
    const response = await openai.responses.create({
      model: MODEL,
      input: "A city and its population",
      text: {
        format: {
          type: "json_schema",
          name: "city",
          schema: {
            type: "object",
            properties: { name: { type: "string" }, population: { type: "integer" } },
            required: ["name", "population"],
            additionalProperties: false,
          },
        },
      },
      max_output_tokens: 200,
    });
    const value = JSON.parse(response.output_text) as { name: unknown; population: unknown };
    expect(typeof value.name).toBe("string");
    expect(Number.isInteger(value.population)).toBe(true);
  });

  it("refuses what it cannot serve with OpenAI's 400 naming the field", async () => {
    await expect(
      openai.responses.create({ model: MODEL, input: "hi", tools: [{ type: "web_search" }] }),
    ).rejects.toMatchObject({ status: 400, param: "tools[0]" });
    await expect(
      openai.responses.create({ model: MODEL, input: "hi", temperature: 3 }),
    ).rejects.toMatchObject({ status: 400, param: "temperature" });
    await expect(
      openai.responses.create({
        model: MODEL,
        input: "hi",
        tools: [weather],
        tool_choice: { type: "function", name: "nope" },
      }),
    ).rejects.toMatchObject({ status: 400, param: "tool_choice.name" });
    // Refusals of the preparation shared with chat name the Responses API's fields.
    await expect(
      openai.responses.create({ model: MODEL, input: "hi", max_output_tokens: 1_000_000 }),
    ).rejects.toMatchObject({ status: 400, param: "max_output_tokens" });
    await expect(
      openai.responses.create({
        model: MODEL,
        input: "hi",
        text: { format: { type: "json_schema", name: "bad", schema: { type: "no-such-type" } } },
      }),
    ).rejects.toMatchObject({ status: 400, param: "text.format" });
    await expect(openai.responses.create({ model: "no/such-model", input: "hi" })).rejects.toMatchObject({
      status: 404,
    });
    // Parameters it cannot honour are refused, not dropped: chat's n (not the Responses API's), background mode.
    const notResponses = { model: MODEL, input: "hi", n: 2 };
    await expect(openai.responses.create(notResponses)).rejects.toMatchObject({
      status: 400,
      code: "unknown_parameter",
      param: "n",
    });
    await expect(
      openai.responses.create({ model: MODEL, input: "hi", background: true }),
    ).rejects.toMatchObject({ status: 400, param: "background" });
  });
});

describe("Anthropic Messages API", () => {
  it("answers with a msg_ id and a request-id header, and counts tokens as the request is rendered", async () => {
    const params = {
      model: MODEL,
      system: "You are terse.",
      messages: [{ role: "user" as const, content: "Hello there" }],
    };
    const { data, response, request_id } = await anthropic.messages
      .create({ ...params, max_tokens: 6 })
      .withResponse();
    expect(data.id).toMatch(/^msg_/);
    const requestId = response.headers.get("request-id");
    expect(requestId).toBeTruthy();
    expect(request_id).toBe(requestId);
    const counted = await anthropic.messages.countTokens(params);
    const usage = data.usage;
    expect(counted.input_tokens).toBe(
      usage.input_tokens + (usage.cache_read_input_tokens ?? 0) + (usage.cache_creation_input_tokens ?? 0),
    );
  });

  it("keeps input_tokens apart from cache reads, and counts cache writes up to a cache_control breakpoint", async () => {
    const text = `A long shared system prompt. ${"Context line. ".repeat(60)}`;
    const system = [{ type: "text" as const, text }];
    const cached = [{ type: "text" as const, text, cache_control: { type: "ephemeral" as const } }];
    const messages = [{ role: "user" as const, content: "Summarize" }];
    const first = await anthropic.messages.create({ model: MODEL, max_tokens: 2, system: cached, messages });
    const total = (await anthropic.messages.countTokens({ model: MODEL, system, messages })).input_tokens;
    // One worker: the first request cached nothing yet and wrote the marked prefix.
    expect(first.usage.cache_read_input_tokens).toBe(0);
    expect(first.usage.cache_creation_input_tokens).toBeGreaterThan(100);
    expect(first.usage.input_tokens).toBe(total - (first.usage.cache_creation_input_tokens ?? 0));
    const second = await anthropic.messages.create({ model: MODEL, max_tokens: 2, system, messages });
    const read = second.usage.cache_read_input_tokens ?? 0;
    expect(read).toBeGreaterThan(100);
    expect(second.usage.cache_creation_input_tokens).toBe(0);
    expect(second.usage.input_tokens).toBe(total - read);
  });

  it("strips Claude Code's billing header from the system prompt (--strip-anthropic-preamble)", async () => {
    const messages = [{ role: "user" as const, content: "Hi" }];
    const plain = await anthropic.messages.countTokens({
      model: MODEL,
      system: "You are helpful.",
      messages,
    });
    const billed = await anthropic.messages.countTokens({
      model: MODEL,
      system: [
        { type: "text", text: "x-anthropic-billing-header: cc_version=2.1.0; cch=abc123;" },
        { type: "text", text: "You are helpful." },
      ],
      messages,
    });
    expect(billed.input_tokens).toBe(plain.input_tokens);
  });

  it("continues an assistant prefill instead of starting a new turn", async () => {
    const user = { role: "user" as const, content: "List three colours." };
    const prefill = { role: "assistant" as const, content: "1. Red" };
    const withPrefill = await anthropic.messages.countTokens({ model: MODEL, messages: [user, prefill] });
    const fresh = await anthropic.messages.countTokens({ model: MODEL, messages: [user] });
    // Continued: the prompt ends inside the open assistant turn (no end-of-turn, no new assistant header), so
    // it is the fresh prompt (which ends with the assistant header) plus the prefill text (and the closed empty
    // thinking block Qwen3's template puts in the final assistant turn).
    expect(withPrefill.input_tokens).toBeGreaterThan(fresh.input_tokens);
    expect(withPrefill.input_tokens - fresh.input_tokens).toBeLessThan(12);
    const answer = await anthropic.messages.create({
      model: MODEL,
      max_tokens: 4,
      messages: [user, prefill],
    });
    expect(answer.usage.input_tokens + (answer.usage.cache_read_input_tokens ?? 0)).toBe(
      withPrefill.input_tokens,
    );
    await expect(
      anthropic.messages.create({
        model: MODEL,
        max_tokens: 4,
        messages: [user, { role: "assistant", content: "1. Red " }],
      }),
    ).rejects.toMatchObject({
      status: 400,
      error: { type: "error", error: { type: "invalid_request_error" } },
    });
  });

  it("answers tool_choice any and tool with tool_use blocks (toolu_ ids, input valid against the schema)", async () => {
    const tools = [
      {
        name: "get_weather",
        description: "The weather in a city",
        input_schema: {
          type: "object" as const,
          properties: { city: { type: "string" } },
          required: ["city"],
          additionalProperties: false,
        },
      },
      {
        name: "get_time",
        description: "The time in a zone",
        input_schema: {
          type: "object" as const,
          properties: { zone: { type: "string" } },
          required: ["zone"],
          additionalProperties: false,
        },
      },
    ];
    const messages = [{ role: "user" as const, content: "Weather in Oslo?" }];
    const any = await anthropic.messages.create({
      model: MODEL,
      max_tokens: 300,
      messages,
      tools,
      tool_choice: { type: "any", disable_parallel_tool_use: true },
    });
    expect(any.stop_reason).toBe("tool_use");
    const uses = any.content.filter((block) => block.type === "tool_use");
    expect(uses).toHaveLength(1);
    const use = uses[0];
    expect(use?.id).toMatch(/^toolu_[0-9A-Za-z]{24}$/);
    expect(["get_weather", "get_time"]).toContain(use?.name);

    const named = await anthropic.messages
      .stream({
        model: MODEL,
        max_tokens: 300,
        messages,
        tools,
        tool_choice: { type: "tool", name: "get_time" },
      })
      .finalMessage();
    expect(named.stop_reason).toBe("tool_use");
    const block = named.content.find((b) => b.type === "tool_use");
    expect(block?.type === "tool_use" && block.name).toBe("get_time");
    expect(typeof (block?.type === "tool_use" ? (block.input as { zone: unknown }).zone : undefined)).toBe(
      "string",
    );
  });

  it("leaves the tools out of the prompt under tool_choice none, and refuses a choice of a tool it lacks", async () => {
    const tools = [
      {
        name: "get_weather",
        description: "The weather in a city",
        input_schema: {
          type: "object" as const,
          properties: { city: { type: "string" } },
          required: ["city"],
        },
      },
    ];
    const messages = [{ role: "user" as const, content: "Weather in Oslo?" }];
    const bare = await anthropic.messages.countTokens({ model: MODEL, messages });
    const withTools = await anthropic.messages.countTokens({ model: MODEL, messages, tools });
    const none = await anthropic.messages.countTokens({
      model: MODEL,
      messages,
      tools,
      tool_choice: { type: "none" },
    });
    expect(withTools.input_tokens).toBeGreaterThan(bare.input_tokens + 20);
    expect(none.input_tokens).toBe(bare.input_tokens);
    await expect(
      anthropic.messages.create({
        model: MODEL,
        max_tokens: 4,
        messages,
        tools,
        tool_choice: { type: "tool", name: "nope" },
      }),
    ).rejects.toMatchObject({ status: 400 });
  });

  it("answers errors in Anthropic's shape with a request-id: 404, 405 and bad bodies", async () => {
    const get = await fetch(`${serving.url}/v1/messages`);
    expect(get.status).toBe(405);
    expect(get.headers.get("request-id")).toBeTruthy();
    expect(await get.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });

    const unknown = await fetch(`${serving.url}/v1/messages/batches`, { method: "POST", body: "{}" });
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get("request-id")).toBeTruthy();
    expect(await unknown.json()).toMatchObject({ type: "error", error: { type: "not_found_error" } });

    const notJson = await fetch(`${serving.url}/v1/messages/count_tokens`, { method: "POST", body: "{" });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({ type: "error", error: { type: "invalid_request_error" } });

    await expect(
      anthropic.messages.create({
        model: "no/such-model",
        max_tokens: 4,
        messages: [{ role: "user", content: "x" }],
      }),
    ).rejects.toMatchObject({ status: 404, error: { type: "error", error: { type: "not_found_error" } } });
    await expect(anthropic.messages.countTokens({ model: MODEL, messages: [] })).rejects.toMatchObject({
      status: 400,
      error: { type: "error", error: { type: "invalid_request_error" } },
    });
    // What it cannot honour is refused in Anthropic's shape, not dropped: another API's n, an MCP server.
    const withN = { model: MODEL, max_tokens: 4, messages: [{ role: "user" as const, content: "x" }], n: 2 };
    await expect(anthropic.messages.create(withN)).rejects.toMatchObject({
      status: 400,
      error: {
        type: "error",
        error: { type: "invalid_request_error", message: "n: Extra inputs are not permitted" },
      },
    });
    const withMcp = {
      model: MODEL,
      max_tokens: 4,
      messages: [{ role: "user" as const, content: "x" }],
      mcp_servers: [{ type: "url", url: "https://mcp.example", name: "example" }],
    };
    await expect(anthropic.messages.create(withMcp)).rejects.toMatchObject({
      status: 400,
      error: { error: { type: "invalid_request_error", message: expect.stringMatching(/^mcp_servers: /) } },
    });
  });

  it("streams message_start with the usage split, and tool_use ids with toolu_", async () => {
    const stream = anthropic.messages.stream({
      model: MODEL,
      max_tokens: 8,
      messages: [{ role: "user", content: "Hi" }],
    });
    const final = await stream.finalMessage();
    expect(final.id).toMatch(/^msg_/);
    expect(final.usage.input_tokens).toBeGreaterThan(0);
    expect(final.usage.output_tokens).toBeGreaterThan(0);
  });
});
