// Logprobs end to end over the engines' own protocols: a frontend, `kvasir worker --backend vllm|sglang` and the
// engine simulator behind it (`vllm serve` / `python -m sglang.launch_server`, run by `kvasir mocker`), once per
// engine API: vLLM's /inference/v1/generate, vLLM's /v1/completions, SGLang's /generate. Each carries logprobs in
// its own shape (engine-wire's logprobs.ts); the client sees OpenAI's.
import { type Frontend, frontendCommand, start as startFrontend } from "@kvasir/frontend";
import { createDiscovery, createEventPlane, newInstanceId, type Planes, parseFlags } from "@kvasir/runtime";
import { waitFor } from "@kvasir/testing";
import { start as startWorker, type Worker, workerCommand } from "@kvasir/worker";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimulatedEngines, simulatedEngines } from "../../worker/test/simulated-engines.js";

const MODEL = "Qwen/Qwen3-0.6B";

const SETUPS = [
  {
    name: "vLLM /inference/v1/generate",
    worker: ["--backend", "vllm", "--engine-api", "generate"],
    engine: "vllm",
  },
  {
    name: "vLLM /v1/completions",
    worker: ["--backend", "vllm", "--engine-api", "completions"],
    engine: "vllm",
  },
  { name: "SGLang /generate", worker: ["--backend", "sglang"], engine: "sglang" },
] as const;

const COMMANDS = {
  vllm: `vllm serve ${MODEL} --max-model-len 4096 --num-gpu-blocks-override 256`,
  sglang: `python -m sglang.launch_server --model-path ${MODEL} --context-length 4096 --max-total-tokens 4096`,
};

/** vLLM's `ignore_eos` extension, which the frontend takes: replies of exactly max_tokens. */
const EXACT = { ignore_eos: true };

let engines: SimulatedEngines;
let uninstall = () => {};
const running: { planes: Planes; worker: Worker; frontend: Frontend; client: OpenAI }[] = [];

beforeAll(async () => {
  engines = simulatedEngines("--speedup-ratio 50");
  uninstall = engines.install();
  // The three engines start side by side (a simulated engine takes a second or two to come up).
  const started = await Promise.all(
    SETUPS.map(async (setup, i) => {
      const namespace = `engine-logprobs-${i}`;
      const planes = {
        discovery: await createDiscovery({ backend: "memory" }),
        events: await createEventPlane({ backend: "memory" }),
      };
      const workerArgv = [
        ...setup.worker,
        "--engine-command",
        COMMANDS[setup.engine],
        "--namespace",
        namespace,
      ];
      const worker = await startWorker(
        workerCommand.toConfig(parseFlags(workerCommand.flags, workerArgv, {}, workerCommand.refused)),
        { planes, instanceId: newInstanceId() },
      );
      const argv = ["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", namespace];
      const frontend = await startFrontend(
        frontendCommand.toConfig(parseFlags(frontendCommand.flags, argv, {}, frontendCommand.refused)),
        { planes },
      );
      const client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: "unused", maxRetries: 0 });
      await waitFor(async () => (await client.models.list()).data.some((m) => m.id === MODEL), {
        timeoutMs: 15_000,
      });
      return { planes, worker, frontend, client };
    }),
  );
  running.push(...started);
}, 60_000);

afterAll(async () => {
  for (const { frontend, worker, planes } of running) {
    await frontend.stop();
    await worker.stop();
    await planes.discovery.close();
    await planes.events.close();
  }
  uninstall();
  engines?.remove();
}, 30_000);

describe.each(SETUPS.map((setup, i) => ({ ...setup, i })))("logprobs over $name", ({ i }) => {
  const client = () => {
    const entry = running[i];
    if (!entry) throw new Error("not started");
    return entry.client;
  };

  it("gives chat each token's logprob and the 3 most likely, most likely first", async () => {
    const answer = await client().chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Count to five" }],
      max_tokens: 6,
      logprobs: true,
      top_logprobs: 3,
      seed: 11,
      stream: false,
      ...EXACT,
    });
    const content = answer.choices[0]?.logprobs?.content ?? [];
    expect(content).toHaveLength(6);
    expect(answer.usage?.completion_tokens).toBe(6);
    for (const entry of content) {
      expect(entry.logprob).toBeLessThanOrEqual(0);
      expect(entry.top_logprobs).toHaveLength(3);
      const tops = entry.top_logprobs.map((t) => t.logprob);
      expect(tops).toEqual([...tops].sort((a, b) => b - a));
      // No token outside the list is more likely than its last; a listed sampled token has its own logprob.
      expect(entry.logprob).toBeLessThanOrEqual(tops[0] ?? 0);
      const listed = entry.top_logprobs.find((t) => t.token === entry.token);
      if (listed) expect(listed.logprob).toBe(entry.logprob);
    }
  });

  it("streams completions' logprobs, one per token, and none when not asked", async () => {
    const stream = await client().completions.create({
      model: MODEL,
      prompt: "Once upon a time",
      max_tokens: 5,
      logprobs: 2,
      stream: true,
      ...EXACT,
    });
    const logprobs: number[] = [];
    const tops: number[] = [];
    for await (const chunk of stream) {
      const lp = chunk.choices[0]?.logprobs;
      for (const value of lp?.token_logprobs ?? []) logprobs.push(value);
      for (const top of lp?.top_logprobs ?? []) tops.push(Object.keys(top).length);
    }
    expect(logprobs).toHaveLength(5);
    expect(tops.every((n) => n >= 2)).toBe(true);

    const plain = await client().completions.create({ model: MODEL, prompt: "Hi", max_tokens: 2 });
    expect(plain.choices[0]?.logprobs ?? null).toBeNull();
  });
});

describe("the three engine APIs", () => {
  it("give the same logprobs for the same seeded request: each shape maps back to the exact top 3", async () => {
    // The simulated engines sample alike for one seed, whichever API carries the request; only a lossy mapping
    // (vLLM's generate lists the sampled token first whatever its rank) could make the lists differ.
    const answers = await Promise.all(
      running.map(({ client }) =>
        client.chat.completions.create({
          model: MODEL,
          messages: [{ role: "user", content: "Name a colour" }],
          max_tokens: 12,
          logprobs: true,
          top_logprobs: 3,
          seed: 1234,
          temperature: 1.5,
          stream: false,
          ...EXACT,
        }),
      ),
    );
    const [first, ...others] = answers.map((a) => a.choices[0]?.logprobs?.content);
    expect(first).toHaveLength(12);
    // Some sampled token was not among the 3 most likely: the case the mapping must get right.
    expect(first?.some((e) => !e.top_logprobs.some((t) => t.token === e.token))).toBe(true);
    for (const other of others) expect(other).toEqual(first);
  });
});
