// `kvasir model-express` and `kvasir worker` as child processes sharing a file discovery backend, each worker
// with its own Hugging Face cache (as on its own host).
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type NodeProcess, spawnNode } from "@kvasir/testing";

const cli = fileURLToPath(new URL("../../cli/src/main.ts", import.meta.url));

export interface Cluster {
  dir: string;
  discoveryArgs: string[];
}

export function clusterIn(dir: string): Cluster {
  return {
    dir,
    discoveryArgs: [
      "--discovery-backend",
      "file",
      "--discovery-file",
      join(dir, "discovery.json"),
      "--discovery-ttl",
      "2",
    ],
  };
}

export interface Server {
  process: NodeProcess;
  url: string;
  statusUrl: string;
}

export async function startServer(cluster: Cluster, source: string, extra: string[] = []): Promise<Server> {
  const process = await spawnNode(
    cli,
    [
      "model-express",
      "--port",
      "0",
      "--system-port",
      "0",
      "--cache-dir",
      join(cluster.dir, "server-cache"),
      "--source",
      source,
      "--chunk-size-kb",
      "64",
      ...cluster.discoveryArgs,
      ...extra,
    ],
    { readyLine: /model-express ready/ },
  );
  const ready = JSON.parse(await process.waitForLine(/model-express ready/)) as {
    local_url: string;
    status_url: string;
  };
  return { process, url: ready.local_url, statusUrl: ready.status_url };
}

export interface ModelReady {
  dir: string;
  from_peers?: number;
  from_server?: number;
  corrupted_chunks?: number;
}

export interface WorkerProcess {
  process: NodeProcess;
  cache: string;
  /** Resolves with the worker's "model files ready" line. */
  ready: Promise<ModelReady>;
}

/** Starts a worker that gets `model` through the server; resolves once it is spawned (not yet ready). */
export async function spawnWorker(
  cluster: Cluster,
  name: string,
  model: string,
  serverUrl: string,
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<WorkerProcess> {
  const cache = join(cluster.dir, `${name}-cache`);
  const process = await spawnNode(
    cli,
    [
      "worker",
      "--backend",
      "mocker",
      "--model-path",
      model,
      "--model-express-url",
      serverUrl,
      ...cluster.discoveryArgs,
      ...extra,
    ],
    { env: { HF_HUB_CACHE: cache, HF_ENDPOINT: "http://127.0.0.1:1", ...env } },
  );
  const ready = process
    .waitForLine(/model files ready/, 60_000)
    .then((line) => JSON.parse(line) as ModelReady);
  // Surfaces as a test failure, not an unhandled rejection, when the test awaits it.
  ready.catch(() => {});
  return { process, cache, ready };
}

export async function sha256Of(path: string): Promise<string> {
  return createHash("sha256")
    .update(await readFile(path))
    .digest("hex");
}

/** A counter's value in Prometheus text, summed over its series that carry `labels`. */
export function metricValue(text: string, name: string, labels = ""): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name) || line.startsWith("#")) continue;
    const [series, value] = line.split(" ");
    if (series && (series === name || series.startsWith(`${name}{`)) && series.includes(labels))
      sum += Number(value);
  }
  return sum;
}
