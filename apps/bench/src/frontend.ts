// `pnpm bench:frontend`: what the frontend costs. Streams chat completions through the frontend to a mocker
// worker whose timing is scaled to near zero, and the same prompts (as token ids) straight to the worker's
// Generate, side by side, at concurrency 1 and 64. Prints a table and writes bench-results/frontend.json.
// `--num-processes 1,2` measures tokens/s against the number of frontend processes instead (frontend-sweep.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { Agent } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatTable, writeBenchResult } from "@kvasir/bench";
import { ChatTemplate, defaultModelSource, loadTokenizer } from "@kvasir/llm";
import { WorkerService } from "@kvasir/protocol";
import type { FlagSpec } from "@kvasir/runtime";
import { createClient } from "@kvasir/runtime";
import { freePort, type NodeProcess, spawnNode, waitFor } from "@kvasir/testing";
import { benchFlags } from "./flags.js";
import {
  drive,
  MODEL,
  OUTPUT_TOKENS,
  type PathResult,
  prompt,
  SPEEDUP,
  type Timing,
  viaFrontend,
} from "./frontend-load.js";
import { formatFailures, parseProcessCounts } from "./frontend-processes.js";
import { runProcessSweep } from "./frontend-sweep.js";
import { repoFile } from "./repo.js";

const RUNS = [
  { concurrency: 1, requests: 300 },
  { concurrency: 64, requests: 3000 },
];

// The runs are fixed so results compare across commits; --num-processes runs the multi-process sweep instead.
const flags: FlagSpec[] = [
  {
    name: "num-processes",
    type: "string",
    help: "Instead of the direct-vs-frontend runs: tokens/s at concurrency 64 through `kvasir frontend --num-processes N` for each N of this comma-separated list (e.g. 1,2), over nats-server",
  },
];

async function main(): Promise<void> {
  const values = benchFlags(
    "bench:frontend",
    "Streams chat completions through the frontend and straight to the worker; compares TTFT and tokens/s.",
    flags,
  );
  const counts = values["num-processes"];
  if (typeof counts === "string") {
    let parsed: number[];
    try {
      parsed = parseProcessCounts(counts);
    } catch (error) {
      process.stderr.write(`bench:frontend: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    }
    await runProcessSweep(parsed);
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "kvasir-bench-frontend-"));
  const planes = ["--discovery-backend", "file", "--discovery-file", join(dir, "discovery.json")];
  planes.push("--namespace", "bench-frontend");
  const processes: NodeProcess[] = [];
  try {
    const worker = await spawnNode(
      repoFile("apps/worker/src/main.ts"),
      [...planes, "--speedup-ratio", String(SPEEDUP), "--max-num-seqs", "256"],
      { readyLine: /worker ready/ },
    );
    processes.push(worker);
    const workerUrl = (JSON.parse(await worker.waitForLine(/worker ready/)) as { url: string }).url;
    const port = await freePort();
    const frontend = await spawnNode(repoFile("apps/frontend/src/main.ts"), [
      ...planes,
      "--log-level",
      "warn",
      "--http-host",
      "127.0.0.1",
      "--http-port",
      String(port),
    ]);
    processes.push(frontend);
    const base = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok === true, {
      timeoutMs: 20_000,
      message: "frontend sees the worker",
    });

    // The direct path gets exactly the tokens the frontend would send.
    const tokenizer = await loadTokenizer(defaultModelSource());
    const template = new ChatTemplate(tokenizer.chatTemplate ?? "", tokenizer.specialTokens);
    const promptTokens = (i: number) =>
      tokenizer.encode(
        template.render({ messages: [{ role: "user", content: prompt(i) }], addGenerationPrompt: true }),
        { addSpecialTokens: false },
      );
    const workerClient = createClient(WorkerService, workerUrl);
    const direct = async (i: number, tokenIds: number[]): Promise<Timing> => {
      const sent = performance.now();
      let ttftMs = 0;
      let tokens = 0;
      for await (const out of workerClient.generate({
        requestId: `direct-${i}-${sent}`,
        model: MODEL,
        tokenIds,
        stop: { maxTokens: OUTPUT_TOKENS, ignoreEos: true },
      })) {
        if (tokens === 0 && out.tokenIds.length > 0) ttftMs = performance.now() - sent;
        tokens += out.tokenIds.length;
      }
      return { ttftMs, tokens };
    };

    const agent = new Agent({ keepAlive: true, maxSockets: 128 });
    const throughFrontend = (i: number) => viaFrontend(base, agent, i);

    const results: Record<
      string,
      { direct: PathResult; frontend: PathResult; addedTtftP50Ms: number; tokensPerSecondShare: number }
    > = {};
    for (const { concurrency, requests } of RUNS) {
      const tokenIds = Array.from({ length: requests }, (_, i) => promptTokens(i));
      // Each path is warmed (connections, JIT) right before it is measured: kept-alive client connections left
      // idle through the other path's run outlive the server's keep-alive timeout (5 s) and a request sent on one
      // as the server closes it fails with ECONNRESET.
      await drive(concurrency, Math.min(requests, 200), (i) => direct(i, tokenIds[i] ?? []));
      const d = await drive(concurrency, requests, (i) => direct(i, tokenIds[i] ?? []));
      await drive(concurrency, Math.min(requests, 200), throughFrontend);
      const f = await drive(concurrency, requests, throughFrontend);
      results[`c${concurrency}`] = {
        direct: d,
        frontend: f,
        addedTtftP50Ms: f.ttftMs.p50 - d.ttftMs.p50,
        tokensPerSecondShare: f.tokensPerSecond / d.tokensPerSecond,
      };
    }
    agent.destroy();

    const headers = [
      "concurrency",
      "path",
      "requests/s",
      "tokens/s",
      "TTFT p50 ms",
      "TTFT p99 ms",
      "failures",
    ];
    const rows = Object.entries(results).flatMap(([key, r]) =>
      (["direct", "frontend"] as const).map((path) => [
        key.slice(1),
        path,
        r[path].requestsPerSecond,
        r[path].tokensPerSecond,
        r[path].ttftMs.p50,
        r[path].ttftMs.p99,
        formatFailures(r[path].failures),
      ]),
    );
    console.log(formatTable(headers, rows, 3));
    for (const [key, r] of Object.entries(results)) {
      console.log(
        `concurrency ${key.slice(1)}: frontend adds ${r.addedTtftP50Ms.toFixed(3)} ms to TTFT p50; ` +
          `keeps ${(r.tokensPerSecondShare * 100).toFixed(0)}% of direct tokens/s`,
      );
    }
    const path = writeBenchResult("frontend", {
      command: "pnpm bench:frontend",
      model: MODEL,
      outputTokens: OUTPUT_TOKENS,
      speedupRatio: SPEEDUP,
      runs: RUNS,
      results,
    });
    console.log(`wrote ${path}`);
  } finally {
    for (const p of processes) p.kill("SIGTERM");
    await Promise.all(processes.map((p) => p.exited));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
