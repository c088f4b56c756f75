// `kvasir serve --router-mode kv`: the embedded KV router sends a repeated prompt back to the worker that caches
// it, and sheds load with a 503 in OpenAI's shape when every worker is over the queue threshold and the queue is
// full (the load comes from a peer replica's booking, shared over the event plane).
import { activeSequencesSubject } from "@kvasir/kv";
import { type EventPlane, parseFlags } from "@kvasir/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Serving, serveCommand, start } from "../src/serve.js";

const NAMESPACE = "serve-kv-test";
let serving: Serving;
let events: EventPlane;

beforeAll(async () => {
  const argv = ["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", NAMESPACE, "--workers", "2"];
  argv.push("--router-mode", "kv", "--router-replica-sync", "--speedup-ratio", "20");
  argv.push("--router-queue-threshold", "1", "--router-max-queue-size", "0");
  serving = await start(serveCommand.toConfig(parseFlags(serveCommand.flags, argv, {})));
  events = serving.planes.events;
});

afterAll(async () => {
  await serving?.stop();
});

interface ChatBody {
  usage: { prompt_tokens_details?: { cached_tokens: number } };
  nvext: { worker_id: { decode_worker_id: string } };
}

const chat = (content: string) =>
  fetch(`${serving.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "Qwen/Qwen3-0.6B", messages: [{ role: "user", content }], max_tokens: 2 }),
  });

describe("kvasir serve --router-mode kv", () => {
  it("routes a repeated prompt to the worker that caches it", async () => {
    const prompt = "Describe, at length, how a prefix cache saves prefill work. ".repeat(12);
    const first = (await (await chat(prompt)).json()) as ChatBody;
    // Later requests find the prompt's blocks through the worker's KV events.
    for (let i = 0; i < 3; i++) {
      const again = (await (await chat(prompt)).json()) as ChatBody;
      expect(again.nvext.worker_id.decode_worker_id).toBe(first.nvext.worker_id.decode_worker_id);
      expect(again.usage.prompt_tokens_details?.cached_tokens).toBeGreaterThan(100);
    }
  });

  it("answers 503 in OpenAI's shape when every worker is busy and the queue is full", async () => {
    const publish = (update: object) =>
      events.publish(activeSequencesSubject(NAMESPACE), new TextEncoder().encode(JSON.stringify(update)));
    // A peer replica books a huge prefill on each worker.
    for (const w of serving.workers) {
      publish({
        type: "add",
        requestId: `peer-${w.instanceId}`,
        workerId: w.instanceId.toString(),
        dpRank: 0,
        prefillTokens: 1_000_000,
        blocks: 1,
      });
    }
    const res = await chat("Anyone free?");
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { type: string; code: string; message: string } };
    expect(body.error).toMatchObject({ type: "service_unavailable", code: "queue_full" });
    for (const w of serving.workers) publish({ type: "free", requestId: `peer-${w.instanceId}` });
    expect((await chat("Anyone free now?")).status).toBe(200);
  });
});

describe("kvasir serve --router-mode kv --no-router-kv-events", () => {
  it("predicts the cache from its own decisions: a repeated prompt returns to its worker", async () => {
    const argv = ["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", `${NAMESPACE}-approx`];
    argv.push("--workers", "3", "--router-mode", "kv", "--no-router-kv-events", "--speedup-ratio", "20");
    const approx = await start(serveCommand.toConfig(parseFlags(serveCommand.flags, argv, {})));
    try {
      const ask = async (content: string) => {
        const res = await fetch(`${approx.url}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            model: "Qwen/Qwen3-0.6B",
            messages: [{ role: "user", content }],
            max_tokens: 2,
          }),
        });
        return ((await res.json()) as ChatBody).nvext.worker_id.decode_worker_id;
      };
      for (const topic of ["gardens", "rivers", "mountains"]) {
        const prompt = `Write a detailed report about ${topic}. `.repeat(12);
        const first = await ask(prompt);
        for (let i = 0; i < 2; i++) expect(await ask(prompt)).toBe(first);
      }
    } finally {
      await approx.stop();
    }
  });
});
