// pnpm bench:model-express — N clients need the same model at once (safetensors shards made here, with valid
// headers) from a source whose bandwidth is capped (remote storage). Side by side: every client downloads from
// the source (direct), versus through model-express (the server fetches once; clients pull chunks from it and
// from peers). Prints the time until all clients hold the model and the bytes read from the source.
//
// Flags: --model-gb 2 --clients 8 --source-mbps 100 --chunk-size-kb 4096 --modes direct,express
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatTable, writeBenchResult } from "@kvasir/bench";
import type { FlagSpec } from "@kvasir/runtime";
import { type NodeProcess, spawnNode } from "@kvasir/testing";
import { benchFlags } from "./flags.js";
import { repoFile } from "./repo.js";
import { tensorsFor, writeSafetensors } from "./safetensors.js";

const flags: FlagSpec[] = [
  { name: "model-gb", type: "number", default: 2, help: "GiB of safetensors the model has" },
  { name: "clients", type: "number", default: 8, help: "Clients (workers) that need the model at once" },
  {
    name: "source-mbps",
    type: "number",
    default: 100,
    help: "The source's bandwidth in MiB/s, shared by all its downloads",
  },
  { name: "chunk-size-kb", type: "number", default: 4096, help: "model-express chunk size in KiB" },
  { name: "modes", type: "list", default: ["direct", "express"], help: "direct, express" },
];
const values = benchFlags(
  "bench:model-express",
  "Time until N clients hold a model: direct downloads from a bandwidth-capped source vs model-express with peers.",
  flags,
);
const modelGb = values["model-gb"] as number;
const clients = values.clients as number;
const sourceMbps = values["source-mbps"] as number;
const chunkKb = values["chunk-size-kb"] as number;
const modes = values.modes as string[];
const MODEL = "bench/model";
const GiB = 2 ** 30;

/** The model directory (kept between runs of the same size): four safetensors shards, their index and a config. */
async function makeModel(bytes: number): Promise<{ dir: string; size: number }> {
  const dir = join(tmpdir(), `kvasir-bench-model-${bytes}-4`);
  const marker = join(dir, ".complete.json");
  if (existsSync(marker))
    return {
      dir,
      size: (JSON.parse(await readFile(marker, "utf8")) as { size: number }).size,
    };
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // Four shards (512 MiB each for 2 GiB), as a model's weights are split across files.
  const shardBytes = Math.ceil(bytes / 4 / 2 ** 20) * 2 ** 20;
  const shards = Math.max(1, Math.ceil(bytes / shardBytes));
  let size = 0;
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards; s++) {
    const name = `model-${String(s + 1).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`;
    const tensors = tensorsFor(Math.min(shardBytes, bytes - s * shardBytes), s);
    for (const t of tensors) weightMap[t.name] = name;
    size += await writeSafetensors(join(dir, name), tensors);
  }
  const small = {
    "config.json": JSON.stringify({ model_type: "llama", hidden_size: 4096, torch_dtype: "bfloat16" }),
    "model.safetensors.index.json": JSON.stringify({ metadata: { total_size: size }, weight_map: weightMap }),
  };
  for (const [name, text] of Object.entries(small)) {
    await writeFile(join(dir, name), text);
    size += Buffer.byteLength(text);
  }
  await writeFile(marker, JSON.stringify({ size }));
  return { dir, size };
}

interface ModeResult {
  mode: string;
  clients: number;
  allReadySeconds: number;
  firstReadySeconds: number;
  sourceBytes: number;
  sourceCopies: number;
  fromPeersBytes: number;
  fromServerBytes: number;
}

async function runMode(mode: string, modelDir: string, modelBytes: number): Promise<ModeResult> {
  const work = await mkdtemp(join(tmpdir(), `kvasir-bench-mx-${mode}-`));
  const processes: NodeProcess[] = [];
  try {
    const hub = await spawnNode(
      repoFile("packages/model-files/test/bench-hub.ts"),
      ["--dir", modelDir, "--model", MODEL, "--bandwidth-mbps", String(sourceMbps)],
      { readyLine: /hub ready/, readyTimeoutMs: 120_000 },
    );
    processes.push(hub);
    const hubUrl = (JSON.parse(await hub.waitForLine(/hub ready/)) as { url: string }).url;
    const discoveryFile = join(work, "discovery.json");
    let expressUrl = "";
    if (mode === "express") {
      const server = await spawnNode(
        repoFile("apps/cli/src/main.ts"),
        [
          "model-express",
          "--port",
          "0",
          "--cache-dir",
          join(work, "server"),
          "--source",
          hubUrl,
          "--chunk-size-kb",
          String(chunkKb),
          "--namespace",
          "bench",
          "--discovery-backend",
          "file",
          "--discovery-file",
          discoveryFile,
        ],
        { readyLine: /model-express ready/ },
      );
      processes.push(server);
      expressUrl = (JSON.parse(await server.waitForLine(/model-express ready/)) as { local_url: string })
        .local_url;
    }
    const t0 = performance.now();
    const started = await Promise.all(
      Array.from({ length: clients }, (_, i) =>
        spawnNode(repoFile("packages/model-files/test/bench-client.ts"), [
          "--mode",
          mode,
          "--model",
          MODEL,
          "--cache",
          join(work, `client-${i}`),
          "--hub",
          hubUrl,
          "--id",
          String(i + 1),
          ...(mode === "express" ? ["--express", expressUrl, "--discovery-file", discoveryFile] : []),
        ]),
      ),
    );
    processes.push(...started);
    const ready = await Promise.all(
      started.map(async (p) => {
        const line = JSON.parse(await p.waitForLine(/client ready/, 3_600_000)) as {
          from_peers?: number;
          from_server?: number;
        };
        return { at: (performance.now() - t0) / 1000, ...line };
      }),
    );
    const stats = (await (await fetch(`${hubUrl}/stats`)).json()) as { bytesServed: number };
    return {
      mode,
      clients,
      allReadySeconds: Math.max(...ready.map((r) => r.at)),
      firstReadySeconds: Math.min(...ready.map((r) => r.at)),
      sourceBytes: stats.bytesServed,
      sourceCopies: stats.bytesServed / modelBytes,
      fromPeersBytes: ready.reduce((n, r) => n + (r.from_peers ?? 0), 0),
      fromServerBytes: ready.reduce((n, r) => n + (r.from_server ?? 0), 0),
    };
  } finally {
    for (const p of processes) p.kill("SIGTERM");
    await Promise.all(processes.map((p) => p.exited));
    await rm(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const t = performance.now();
  const model = await makeModel(Math.round(modelGb * GiB));
  console.log(
    `model: ${(model.size / GiB).toFixed(2)} GiB of safetensors in ${model.dir} (${((performance.now() - t) / 1000).toFixed(1)} s to make or find)`,
  );
  const results: ModeResult[] = [];
  for (const mode of modes) {
    console.log(`running ${mode}: ${clients} clients, source capped at ${sourceMbps} MiB/s ...`);
    results.push(await runMode(mode, model.dir, model.size));
  }
  console.log(
    formatTable(
      [
        "mode",
        "clients",
        "all ready s",
        "first ready s",
        "source GiB",
        "source copies",
        "from peers GiB",
        "from server GiB",
      ],
      results.map((r) => [
        r.mode,
        r.clients,
        r.allReadySeconds,
        r.firstReadySeconds,
        r.sourceBytes / GiB,
        r.sourceCopies,
        r.fromPeersBytes / GiB,
        r.fromServerBytes / GiB,
      ]),
    ),
  );
  const direct = results.find((r) => r.mode === "direct");
  const express = results.find((r) => r.mode === "express");
  const speedup = direct && express ? direct.allReadySeconds / express.allReadySeconds : undefined;
  if (speedup !== undefined)
    console.log(`all ${clients} ready ${speedup.toFixed(1)}x sooner through model-express`);
  const path = writeBenchResult("model-express", {
    command: `pnpm bench:model-express ${process.argv.slice(2).join(" ")}`.trim(),
    modelBytes: model.size,
    clients,
    sourceMiBPerSecond: sourceMbps,
    chunkSizeKiB: chunkKb,
    results,
    ...(speedup === undefined ? {} : { speedup }),
    note: "Clients are processes on one 2-core host (loopback); the source is the hub fixture with its bandwidth shared by all its downloads; times include each client's process start",
  });
  console.log(`wrote ${path}`);
}

await main();
