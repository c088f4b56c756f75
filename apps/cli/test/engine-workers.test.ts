// A frontend with --router-mode kv over two `kvasir worker --backend vllm` workers, each driving a simulated vLLM
// engine process (`vllm serve MODEL` run by the engine simulator): requests follow the KV events the engines
// publish, and a request whose engine dies mid-stream migrates to the other worker and still ends exactly.
import { type Frontend, frontendCommand, start as startFrontend } from "@kvasir/frontend";
import { createDiscovery, createEventPlane, newInstanceId, type Planes, parseFlags } from "@kvasir/runtime";
import { freePort, waitFor } from "@kvasir/testing";
import { start as startWorker, type Worker, workerCommand } from "@kvasir/worker";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimulatedEngines, simulatedEngines } from "../../worker/test/simulated-engines.js";

const MODEL = "Qwen/Qwen3-0.6B";
const NAMESPACE = "engine-workers";

let engines: SimulatedEngines;
let uninstall = () => {};
let planes: Planes;
const workers: Worker[] = [];
const enginePorts: number[] = [];
let frontend: Frontend;
let client: OpenAI;

beforeAll(async () => {
  engines = simulatedEngines("--speedup-ratio 20");
  uninstall = engines.install();
  planes = {
    discovery: await createDiscovery({ backend: "memory" }),
    events: await createEventPlane({ backend: "memory" }),
  };
  for (let i = 0; i < 2; i++) {
    const port = await freePort();
    enginePorts.push(port);
    const argv = [
      ...["--backend", "vllm", "--engine-command", `vllm serve ${MODEL} --port ${port}`],
      ...["--namespace", NAMESPACE, "--engine-metrics-interval", "50", "--host", "127.0.0.1", "--port", "0"],
    ];
    const config = workerCommand.toConfig(parseFlags(workerCommand.flags, argv, {}, workerCommand.refused));
    workers.push(await startWorker(config, { planes, instanceId: newInstanceId() }));
  }
  const argv = [
    "--http-host",
    "127.0.0.1",
    "--http-port",
    "0",
    "--namespace",
    NAMESPACE,
    "--router-mode",
    "kv",
  ];
  frontend = await startFrontend(
    frontendCommand.toConfig(parseFlags(frontendCommand.flags, argv, {}, frontendCommand.refused)),
    { planes },
  );
  client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: "unused", maxRetries: 0 });
  await waitFor(async () => (await client.models.list()).data.some((m) => m.id === MODEL), {
    timeoutMs: 10_000,
  });
}, 60_000);

afterAll(async () => {
  await frontend?.stop();
  for (const worker of workers) await worker.stop();
  await planes?.discovery.close();
  await planes?.events.close();
  uninstall();
  engines?.remove();
});

/** Which worker served a completion (Dynamo's nvext.worker_id). */
function servedBy(answer: unknown): string {
  return (answer as { nvext: { worker_id: { decode_worker_id: string } } }).nvext.worker_id.decode_worker_id;
}

async function engineRunning(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith("vllm:num_requests_running"));
  return Number(line?.split(" ").at(-1));
}

describe("KV routing over real engines' events", () => {
  it("sends a prompt back to the worker whose engine reported caching it", async () => {
    const prompt = Array.from({ length: 256 }, (_, i) => 1000 + ((i * 13) % 4000));
    const ask = () => client.completions.create({ model: MODEL, prompt, max_tokens: 2 });
    const first = servedBy(await ask());
    // The engine's BlockStored events reach the router's index through the worker.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const next = [await ask(), await ask(), await ask()];
    expect(next.map(servedBy)).toEqual([first, first, first]);
    // What the engine reports: the prompt's 15 full blocks of 16 came from its prefix cache.
    expect(next.map((a) => a.usage?.prompt_tokens_details?.cached_tokens)).toEqual([240, 240, 240]);
  });
});

describe("an engine that dies mid-stream", () => {
  it("takes its worker out of discovery, and the request migrates and ends with exactly max_tokens", async () => {
    const stream = await client.completions.create({
      model: MODEL,
      prompt: Array.from({ length: 64 }, (_, i) => 2000 + i),
      max_tokens: 2000,
      stream: true,
      stream_options: { include_usage: true },
      ...{ ignore_eos: true },
    });
    let chunks = 0;
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      chunks++;
      if (chunks === 10) {
        // Kill the engine that runs the request (engines started in worker order, so pid i serves port i).
        const running = await Promise.all(enginePorts.map(engineRunning));
        const serving = running.findIndex((n) => n > 0);
        expect(serving).toBeGreaterThanOrEqual(0);
        process.kill(engines.pids()[serving] ?? 0, "SIGKILL");
      }
      for (const choice of chunk.choices) finish = choice.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
    }
    expect(finish).toBe("length");
    expect(usage?.completion_tokens).toBe(2000);
    await waitFor(
      async () => (await planes.discovery.list(`v1/instances/${NAMESPACE}/backend/`)).length === 1,
      {
        timeoutMs: 10_000,
      },
    );
  });
});
