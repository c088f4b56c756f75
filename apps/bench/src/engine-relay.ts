// `pnpm bench:engine-relay`: what the vLLM and SGLang adapters cost per streamed token. A `kvasir worker --backend
// vllm|sglang` process drives the engine simulator (`kvasir mocker --protocol ...`, run as `vllm serve` /
// `python -m sglang.launch_server`), and this process streams WorkerService.Generate from the worker. CPU time of
// the worker (the relay: HTTP/SSE from the engine, JSON, Connect messages out) and of the engine process is read
// from /proc/<pid>/stat around the measured requests; Generate messages per token show how often several tokens
// that arrived together went out as one message.

import { formatTable, writeBenchResult } from "@kvasir/bench";
import { create, GenerateRequestSchema, WorkerService } from "@kvasir/protocol";
import { createClient, type FlagSpec } from "@kvasir/runtime";
import { type NodeProcess, spawnNode } from "@kvasir/testing";
import { simulatedEngines } from "../../worker/test/simulated-engines.js";
import { processCpuMs } from "./cpu-time.js";
import { benchFlags } from "./flags.js";
import { repoFile } from "./repo.js";

const MODEL = "Qwen/Qwen3-0.6B";
const PROMPT_TOKENS = 512;

const flags: FlagSpec[] = [
  { name: "requests", type: "number", default: 64, help: "Measured requests per row" },
  { name: "output-tokens", type: "number", default: 256, help: "Tokens per request (ignore_eos)" },
  { name: "concurrency", type: "list", default: ["1", "32"], help: "Concurrent streams, one row each" },
  {
    name: "speedup-ratio",
    type: "number",
    default: 1_000_000,
    help: "Simulator speedup; the default streams tokens as fast as the processes go",
  },
];

const VARIANTS = [
  { backend: "vllm", api: "generate", command: `vllm serve ${MODEL}` },
  { backend: "vllm", api: "completions", command: `vllm serve ${MODEL}` },
  { backend: "sglang", api: "generate", command: `python -m sglang.launch_server --model-path ${MODEL}` },
] as const;

interface Row {
  backend: string;
  api: string;
  concurrency: number;
  tokens: number;
  tokensPerSecond: number;
  workerCpuUsPerToken: number;
  engineCpuUsPerToken: number;
  messagesPerToken: number;
}

const values = benchFlags(
  "bench:engine-relay",
  "CPU per streamed token of the vLLM and SGLang adapters",
  flags,
);
const requests = Number(values.requests);
const outputTokens = Number(values["output-tokens"]);
const levels = (values.concurrency as string[]).map(Number);
const engines = simulatedEngines(`--speedup-ratio ${values["speedup-ratio"]}`);
const rows: Row[] = [];
const cpuMs = (pid: number) => {
  const { user, system } = processCpuMs(pid);
  return user + system;
};

try {
  for (const variant of VARIANTS) {
    const args = [
      ...["--backend", variant.backend, "--engine-command", variant.command, "--engine-api", variant.api],
      ...["--namespace", "bench-engine-relay", "--discovery-backend", "memory", "--event-plane", "memory"],
    ];
    const worker: NodeProcess = await spawnNode(repoFile("apps/worker/src/main.ts"), args, {
      env: engines.env,
      readyLine: /worker ready/,
      readyTimeoutMs: 60_000,
    });
    try {
      const url = /"url":"([^"]+)"/.exec(await worker.waitForLine(/worker ready/))?.[1] ?? "";
      const enginePid = engines.pids().at(-1) ?? 0;
      const workerPid = worker.pid ?? 0;
      const client = createClient(WorkerService, url);
      let id = 0;
      const one = async (): Promise<{ tokens: number; messages: number }> => {
        const tokenIds = Array.from({ length: PROMPT_TOKENS }, (_, i) => 1000 + ((i * 31 + id * 7) % 5000));
        const request = create(GenerateRequestSchema, {
          requestId: `r${id++}`,
          model: MODEL,
          tokenIds,
          stop: { maxTokens: outputTokens, ignoreEos: true },
        });
        let tokens = 0;
        let messages = 0;
        for await (const response of client.generate(request)) {
          tokens += response.tokenIds.length;
          messages++;
        }
        return { tokens, messages };
      };
      const run = async (concurrency: number, count: number) => {
        let next = 0;
        let tokens = 0;
        let messages = 0;
        await Promise.all(
          Array.from({ length: concurrency }, async () => {
            while (next++ < count) {
              const r = await one();
              tokens += r.tokens;
              messages += r.messages;
            }
          }),
        );
        return { tokens, messages };
      };
      for (const concurrency of levels) {
        await run(concurrency, Math.min(16, requests));
        const [w0, e0, t0] = [cpuMs(workerPid), cpuMs(enginePid), performance.now()];
        const { tokens, messages } = await run(concurrency, requests);
        const [w1, e1, t1] = [cpuMs(workerPid), cpuMs(enginePid), performance.now()];
        rows.push({
          backend: variant.backend,
          api: variant.api,
          concurrency,
          tokens,
          tokensPerSecond: (tokens * 1000) / (t1 - t0),
          workerCpuUsPerToken: ((w1 - w0) * 1000) / tokens,
          engineCpuUsPerToken: ((e1 - e0) * 1000) / tokens,
          messagesPerToken: messages / tokens,
        });
      }
    } finally {
      worker.kill("SIGTERM");
      await worker.exited;
    }
  }
} finally {
  engines.remove();
}

console.log(
  formatTable(
    [
      "backend",
      "api",
      "concurrency",
      "tokens",
      "tokens/s",
      "worker µs/token",
      "engine µs/token",
      "messages/token",
    ],
    rows.map((r) => [
      r.backend,
      r.api,
      r.concurrency,
      r.tokens,
      r.tokensPerSecond,
      r.workerCpuUsPerToken,
      r.engineCpuUsPerToken,
      r.messagesPerToken,
    ]),
  ),
);
console.log(
  `wrote ${writeBenchResult("engine-relay", { promptTokens: PROMPT_TOKENS, outputTokens, requests, rows })}`,
);
