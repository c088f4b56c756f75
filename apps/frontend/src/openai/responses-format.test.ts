import { type ChatTemplateMessage, validateResponsesRequest } from "@kvasir/llm";
import { describe, expect, it } from "vitest";
import { HttpError } from "../errors.js";
import { Frame, NamedEvent } from "../sse.js";
import type { TextStep } from "../text-generation.js";
import { LogprobRenderer } from "./logprobs.js";
import { type ResponsesContext, responsesFormat } from "./responses-format.js";

const usage = { promptTokens: 20, completionTokens: 9, cachedTokens: 16 };
const header = { id: "resp_abc", created: 1, model: "m" };

function context(done: (response: Record<string, unknown>, output: ChatTemplateMessage) => void) {
  const body = validateResponsesRequest({ model: "m", input: "x" });
  if (!body.ok) throw new Error("invalid");
  const ctx: ResponsesContext = {
    body: body.value,
    parsers: { reasoningParser: "qwen3", toolCallParser: "hermes" },
    prompt: "<|im_start|>assistant\n",
    promptTokens: 20,
    countTokens: (text) => text.split(" ").length,
    onDone: done,
  };
  return ctx;
}

const step = (text: string, last?: TextStep["finishReason"]): TextStep =>
  ({ text, tokenCount: 1, usage, ...(last ? { finishReason: last } : {}) }) as TextStep;

const events = (batch: unknown[]) =>
  batch.map((e) => {
    if (!(e instanceof NamedEvent)) throw new Error("expected named events");
    return e.data as { type: string; sequence_number: number; [key: string]: unknown };
  });

describe("responsesFormat", () => {
  it("streams reasoning, then text, then a function call as items with their events, numbered in order", () => {
    let stored: { response: Record<string, unknown>; output: ChatTemplateMessage } | undefined;
    const format = responsesFormat(
      header,
      context((response, output) => {
        stored = { response, output };
      }),
    );
    const all = [
      ...events(format.start()),
      ...events(format.step(step("<think>plan it"))),
      ...events(format.step(step("</think>Checking."))),
      ...events(
        format.step(
          step('<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>', "stop"),
        ),
      ),
    ];
    expect(all.map((e) => e.sequence_number)).toEqual(all.map((_, i) => i));
    expect(all.map((e) => e.type)).toEqual([
      "response.created",
      "response.in_progress",
      "response.output_item.added",
      "response.content_part.added",
      "response.reasoning_text.delta",
      "response.reasoning_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.content_part.added",
      "response.output_text.delta",
      "response.output_text.done",
      "response.content_part.done",
      "response.output_item.done",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.completed",
    ]);
    const completed = all.at(-1)?.response as { status: string; output: { type: string }[]; usage: unknown };
    expect(completed.status).toBe("completed");
    expect(completed.output.map((item) => item.type)).toEqual(["reasoning", "message", "function_call"]);
    expect(completed.usage).toEqual({
      input_tokens: 20,
      input_tokens_details: { cached_tokens: 16 },
      output_tokens: 9,
      output_tokens_details: { reasoning_tokens: 2 },
      total_tokens: 29,
    });
    expect(stored?.output).toMatchObject({
      role: "assistant",
      content: "Checking.",
      reasoning_content: "plan it",
      tool_calls: [{ type: "function", function: { name: "get_weather", arguments: '{"city":"Oslo"}' } }],
    });
  });

  it("answers whole, and says a response cut by max_output_tokens is incomplete", () => {
    const format = responsesFormat(
      header,
      context(() => {}),
    );
    const response = format.complete("Hello there", step("", "length")) as {
      status: string;
      incomplete_details: unknown;
      output: { status: string; content: { text: string }[] }[];
    };
    expect(response.status).toBe("incomplete");
    expect(response.incomplete_details).toEqual({ reason: "max_output_tokens" });
    expect(response.output[0]?.status).toBe("incomplete");
    expect(response.output[0]?.content[0]?.text).toBe("Hello there");
  });

  it("tells a streaming client of a failure with an error event and response.failed, in one frame", () => {
    const format = responsesFormat(
      header,
      context(() => {}),
    );
    format.start();
    const frame = format.error(new HttpError(503, "The worker failed.", "worker_failed"));
    expect(frame).toBeInstanceOf(Frame);
    const text = frame instanceof Frame ? frame.text : "";
    const sent = [...text.matchAll(/^event: (\S+)\ndata: (.*)$/gm)].map((m) => [
      m[1],
      JSON.parse(m[2] ?? ""),
    ]);
    expect(sent.map(([name]) => name)).toEqual(["error", "response.failed"]);
    expect(sent[0]?.[1]).toMatchObject({ type: "error", code: "worker_failed", sequence_number: 2 });
    expect(sent[1]?.[1]).toMatchObject({ response: { status: "failed", error: { code: "server_error" } } });
  });
});

describe("responsesFormat with logprobs", () => {
  // Token ids stand for their text in these steps: "<think>" is 1, "plan" 2, "</think>" 3, "Hi" 4, "<" 5, "b>" 6.
  const texts = new Map([
    [1, "<think>"],
    [2, "plan"],
    [3, "</think>"],
    [4, "Hi"],
    [5, "<"],
    [6, "b>"],
  ]);
  const renderer = new LogprobRenderer(
    { decode: (ids) => ids.map((id) => texts.get(id) ?? "").join("") },
    () => false,
  );
  const tokenStep = (ids: number[], last?: TextStep["finishReason"]): TextStep => ({
    text: ids.map((id) => texts.get(id) ?? "").join(""),
    tokenCount: ids.length,
    tokenIds: ids,
    logprobs: ids.map((id) => ({ logprob: -id / 10, top: [] })),
    usage,
    ...(last ? { finishReason: last } : {}),
  });

  it("puts the message's tokens' logprobs on its text, none on reasoning, held-back tokens with their text", () => {
    const ctx = { ...context(() => {}), logprobs: renderer };
    const format = responsesFormat(header, ctx);
    format.start();
    const all = [
      ...events(format.step(tokenStep([1, 2, 3]))),
      ...events(format.step(tokenStep([4]))),
      // "<" may open a tool call: held back until "b>" shows it is text.
      ...events(format.step(tokenStep([5]))),
      ...events(format.step(tokenStep([6], "stop"))),
    ];
    const deltas = all.filter((e) => e.type === "response.output_text.delta");
    const tokens = (e: Record<string, unknown>): string[] =>
      Array.isArray(e.logprobs)
        ? e.logprobs.map((l: unknown) =>
            typeof l === "object" && l !== null && "token" in l ? String(l.token) : "",
          )
        : [];
    expect(deltas.flatMap(tokens)).toEqual(["Hi", "<", "b>"]);
    const done = all.find((e) => e.type === "response.output_text.done");
    expect(done && tokens(done)).toEqual(["Hi", "<", "b>"]);
  });
});
