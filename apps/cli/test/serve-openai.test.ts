// The official OpenAI SDK against `kvasir serve` composed in this process (memory planes, two workers): mocker
// workers, and vLLM workers behind a KV-routing frontend, each driving its own simulated vLLM engine process
// (`kvasir mocker --protocol vllm`, run as `vllm serve MODEL`).
import { fromBinary, type LoadMetrics, LoadMetricsSchema } from "@kvasir/protocol";
import { type EventPlane, loadMetricsSubject, parseFlags } from "@kvasir/runtime";
import { waitFor } from "@kvasir/testing";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimulatedEngines, simulatedEngines } from "../../worker/test/simulated-engines.js";
import { type Serving, serveCommand, start } from "../src/serve.js";

const MODEL = "Qwen/Qwen3-0.6B";

const BACKENDS = [
  { name: "mocker workers", argv: ["--speedup-ratio", "100"], engines: false },
  {
    name: "vLLM workers over simulated engines, KV routing",
    argv: [
      ...["--backend", "vllm", "--engine-command", `vllm serve ${MODEL}`],
      ...["--workers", "2", "--router-mode", "kv", "--engine-metrics-interval", "50"],
    ],
    engines: true,
  },
] as const;

describe.each(BACKENDS)("kvasir serve: $name", ({ argv: backendArgv, engines: simulated }) => {
  const NAMESPACE = `serve-openai-${simulated ? "vllm" : "mocker"}`;

  let serving: Serving;
  let client: OpenAI;
  let events: EventPlane;
  let engines: SimulatedEngines | undefined;
  let uninstall = () => {};
  const latestLoad = new Map<bigint, LoadMetrics>();

  beforeAll(async () => {
    if (simulated) {
      engines = simulatedEngines("--speedup-ratio 100");
      uninstall = engines.install();
    }
    const argv = ["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", NAMESPACE, ...backendArgv];
    serving = await start(serveCommand.toConfig(parseFlags(serveCommand.flags, argv, {})));
    client = new OpenAI({ baseURL: `${serving.url}/v1`, apiKey: "unused", maxRetries: 0 });
    events = serving.planes.events;
    events.subscribe(loadMetricsSubject(NAMESPACE, "backend"), (msg) => {
      const metrics = fromBinary(LoadMetricsSchema, msg.data);
      latestLoad.set(metrics.workerId, metrics);
    });
  }, 60_000);

  afterAll(async () => {
    await serving?.stop();
    uninstall();
    engines?.remove();
  });

  /** Fields the SDK's types do not know (vLLM/Dynamo extensions) go in the body as they are. */
  const exactly = (n: number) => ({ max_tokens: n, ignore_eos: true });

  describe("chat completions", () => {
    it("answers non-streamed with content, finish reason and usage", async () => {
      const params = {
        model: MODEL,
        messages: [{ role: "user" as const, content: "Say hi" }],
        ...exactly(12),
      };
      const answer = await client.chat.completions.create(params);
      expect(answer.object).toBe("chat.completion");
      expect(answer.model).toBe(MODEL);
      expect(answer.choices).toHaveLength(1);
      expect(answer.choices[0]?.message.role).toBe("assistant");
      expect(typeof answer.choices[0]?.message.content).toBe("string");
      expect(answer.choices[0]?.finish_reason).toBe("length");
      expect(answer.usage?.completion_tokens).toBe(12);
      expect(answer.usage?.prompt_tokens).toBeGreaterThan(5);
      expect(answer.usage?.total_tokens).toBe((answer.usage?.prompt_tokens ?? 0) + 12);
      expect(answer.usage?.prompt_tokens_details?.cached_tokens).toBeGreaterThanOrEqual(0);
      // Dynamo's nvext.worker_id names the worker that served the request.
      const served = (answer as unknown as { nvext: { worker_id: { decode_worker_id: string } } }).nvext;
      const ids = serving.workers.map((w) => w.instanceId.toString());
      expect(ids).toContain(served.worker_id.decode_worker_id);
    });

    it("streams chunks and, with include_usage, a usage chunk before [DONE]", async () => {
      const params = {
        model: MODEL,
        messages: [{ role: "user" as const, content: "Count to ten" }],
        stream: true as const,
        stream_options: { include_usage: true },
        ...exactly(20),
      };
      const stream = await client.chat.completions.create(params);
      let text = "";
      const finishes: string[] = [];
      let usage: OpenAI.CompletionUsage | undefined | null;
      let chunks = 0;
      for await (const chunk of stream) {
        chunks++;
        expect(chunk.object).toBe("chat.completion.chunk");
        for (const choice of chunk.choices) {
          text += choice.delta.content ?? "";
          if (choice.finish_reason) finishes.push(choice.finish_reason);
        }
        if (chunk.usage) {
          expect(chunk.choices).toEqual([]);
          usage = chunk.usage;
        }
      }
      expect(chunks).toBeGreaterThan(2);
      expect(finishes).toEqual(["length"]);
      expect(text.length).toBeGreaterThan(0);
      expect(usage?.completion_tokens).toBe(20);
    });

    it("builds the final completion with the SDK's stream helper", async () => {
      const runner = client.chat.completions.stream({
        model: MODEL,
        messages: [{ role: "user", content: "Tell me a story" }],
        max_tokens: 16,
      });
      const final = await runner.finalChatCompletion();
      expect(final.choices[0]?.message.role).toBe("assistant");
      expect(["stop", "length"]).toContain(final.choices[0]?.finish_reason);
    });

    it("reports cached prompt tokens once a worker has seen the prompt", async () => {
      const content = "A long shared system prompt. ".repeat(40);
      const ask = () =>
        client.chat.completions.create({
          model: MODEL,
          messages: [{ role: "user", content }],
          max_tokens: 2,
        });
      // Round-robin over two workers: by the third request one of them has the prefix cached.
      const answers = [await ask(), await ask(), await ask()];
      const cached = answers.map((a) => a.usage?.prompt_tokens_details?.cached_tokens ?? 0);
      expect(cached[0]).toBe(0);
      expect(cached[2]).toBeGreaterThan(0);
    });

    it("frees the worker's KV blocks when the client aborts mid-stream", async () => {
      const controller = new AbortController();
      const params = {
        model: MODEL,
        messages: [{ role: "user" as const, content: "Write forever" }],
        stream: true as const,
        ...exactly(30_000),
      };
      const stream = await client.chat.completions.create(params, { signal: controller.signal });
      let chunks = 0;
      let busy = false;
      // The SDK ends the iteration quietly once its signal aborts.
      for await (const _ of stream) {
        chunks++;
        if (chunks === 5) {
          // The worker is mid-generation: it holds blocks for this request (a real engine's load comes with the
          // worker's next scrape of its /metrics).
          busy = await waitFor(
            () => [...latestLoad.values()].some((m) => m.activeKvBlocks > 0n && m.numRequestsRunning > 0),
            { timeoutMs: 5000 },
          ).then(
            () => true,
            () => false,
          );
          controller.abort();
        }
      }
      expect(chunks).toBe(5);
      expect(busy).toBe(true);
      await waitFor(
        () => [...latestLoad.values()].every((m) => m.activeKvBlocks === 0n && m.numRequestsRunning === 0),
        { timeoutMs: 5000, message: "workers report zero active KV blocks" },
      );
    });
  });

  describe("completions", () => {
    it("answers a text prompt, non-streamed, with usage", async () => {
      const answer = await client.completions.create({
        model: MODEL,
        prompt: "Once upon a time",
        ...exactly(8),
      });
      expect(answer.object).toBe("text_completion");
      expect(typeof answer.choices[0]?.text).toBe("string");
      expect(answer.choices[0]?.finish_reason).toBe("length");
      expect(answer.usage?.prompt_tokens).toBe(4);
      expect(answer.usage?.completion_tokens).toBe(8);
    });

    it("streams a token-id prompt with include_usage", async () => {
      const params = {
        model: MODEL,
        prompt: [9707, 11, 1879, 0],
        stream: true as const,
        stream_options: { include_usage: true },
        ...exactly(10),
      };
      const stream = await client.completions.create(params);
      let usage: OpenAI.CompletionUsage | undefined | null;
      let finish: string | null | undefined;
      for await (const chunk of stream) {
        if (chunk.usage) usage = chunk.usage;
        for (const choice of chunk.choices) finish = choice.finish_reason ?? finish;
      }
      expect(finish).toBe("length");
      expect(usage?.prompt_tokens).toBe(4);
      expect(usage?.completion_tokens).toBe(10);
    });
  });

  describe("models", () => {
    it("lists the model and retrieves it by its slashed id", async () => {
      const ids: string[] = [];
      for await (const model of client.models.list()) ids.push(model.id);
      expect(ids).toContain(MODEL);
      const model = await client.models.retrieve(MODEL);
      expect(model.id).toBe(MODEL);
      await expect(client.models.retrieve("no/such-model")).rejects.toMatchObject({ status: 404 });
    });
  });

  describe("anthropic messages", () => {
    const post = (body: unknown) =>
      fetch(`${serving.url}/v1/messages`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });

    it("answers a Messages request with content blocks, stop reason and usage", async () => {
      const res = await post({
        model: MODEL,
        max_tokens: 6,
        system: "Be brief.",
        messages: [{ role: "user", content: [{ type: "text", text: "Hello" }] }],
      });
      expect(res.status).toBe(200);
      const message = (await res.json()) as {
        type: string;
        role: string;
        content: { type: string; text?: string }[];
        stop_reason: string;
        usage: { input_tokens: number; output_tokens: number };
      };
      expect(message.type).toBe("message");
      expect(message.role).toBe("assistant");
      expect(["end_turn", "max_tokens"]).toContain(message.stop_reason);
      expect(message.usage.input_tokens).toBeGreaterThan(3);
      expect(message.usage.output_tokens).toBeLessThanOrEqual(6);
    });

    it("streams Anthropic's named events in order", async () => {
      const res = await post({
        model: MODEL,
        max_tokens: 8,
        stream: true,
        messages: [{ role: "user", content: "Hi" }],
      });
      expect(res.headers.get("content-type")).toContain("text/event-stream");
      const events = [...(await res.text()).matchAll(/^event: (\S+)$/gm)].map((m) => m[1]);
      expect(events[0]).toBe("message_start");
      expect(events.at(-2)).toBe("message_delta");
      expect(events.at(-1)).toBe("message_stop");
    });

    it("refuses a bad request in Anthropic's error shape", async () => {
      const res = await post({ model: MODEL, messages: [{ role: "user", content: "no max_tokens" }] });
      expect(res.status).toBe(400);
      const body = (await res.json()) as { type: string; error: { type: string; message: string } };
      expect(body.type).toBe("error");
      expect(body.error.type).toBe("invalid_request_error");
    });
  });
});
