// The dstack recipe's frontend command line, read from ../shared/reference/dstack-dynamo-example.md and run as
// `kvasir frontend` with only its port numbers changed, serves mocker workers registered in etcd with 64-token
// blocks, in the environment the recipe exports (ETCD_ENDPOINTS, NATS_SERVER, DYN_SYSTEM_PORT).
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type EtcdServer,
  freePort,
  type NatsServer,
  sleep,
  startEtcdServer,
  startNatsServer,
} from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chat,
  complete,
  expectServed,
  kvasir,
  MODEL,
  modelIds,
  startWorker,
  stopAll,
  type WorkerProcess,
  waitForInstances,
} from "./kvasir-processes.js";

/** The repository root: the nearest folder above this file holding pnpm-workspace.yaml. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, "pnpm-workspace.yaml"))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no pnpm-workspace.yaml above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
  return dir;
}

// The shared reference material sits beside the repository (<repo>/../shared), as CI provides it.
const RECIPE = resolve(repoRoot(), "../shared/reference/dstack-dynamo-example.md");
if (!existsSync(RECIPE)) {
  throw new Error(
    `the dstack recipe is missing: expected ${RECIPE} (<repo>/../shared/reference/dstack-dynamo-example.md)`,
  );
}
const recipe = readFileSync(RECIPE, "utf8");

/** The recipe's `python3 -m dynamo.frontend ...` command (backslash continuations joined), split into words. */
function frontendCommand(text: string): string[] {
  const match = /\bpython3? -m dynamo\.frontend\b((?:[^\n]*\\\n)*[^\n]*)/.exec(text);
  if (!match) throw new Error(`no 'python3 -m dynamo.frontend' line in ${RECIPE}`);
  return (match[1] ?? "").replace(/\\\n/g, " ").trim().split(/\s+/).filter(Boolean);
}

/** The variables the recipe exports (`export NAME="value"`), first value of each. */
function recipeExports(text: string): Map<string, string> {
  const exports = new Map<string, string>();
  for (const [, name, value] of text.matchAll(/export ([A-Z_]+)="([^"]*)"/g)) {
    if (name && value !== undefined && !exports.has(name)) exports.set(name, value);
  }
  return exports;
}

/**
 * `flags` with every port number replaced by a free one: the recipe's fixed ports (8000) may be taken on a test
 * machine. Nothing else changes.
 */
async function withFreePorts(flags: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < flags.length; i++) {
    const flag = flags[i] ?? "";
    const inline = /^(--[\w-]+-port)=\d+$/.exec(flag);
    if (inline) out.push(`${inline[1]}=${await freePort()}`);
    else if (/^--[\w-]+-port$/.test(flag) && /^\d+$/.test(flags[i + 1] ?? "")) {
      out.push(flag, String(await freePort()));
      i++;
    } else out.push(flag);
  }
  return out;
}

/** The port `flags` give `--http-port` (the API), as the frontend will bind it. */
function httpPortOf(flags: readonly string[]): number {
  for (let i = 0; i < flags.length; i++) {
    const inline = /^--http-port=(\d+)$/.exec(flags[i] ?? "");
    if (inline) return Number(inline[1]);
    if (flags[i] === "--http-port") return Number(flags[i + 1]);
  }
  throw new Error("the recipe's frontend line sets no --http-port");
}

/**
 * One of the recipe's exported values pointed at this test's servers: the router replica's address becomes
 * loopback and the recipe's port becomes `port`.
 */
function localized(exports: Map<string, string>, name: string, port: number): string {
  const value = exports.get(name);
  if (value === undefined) throw new Error(`the recipe exports no ${name}`);
  return value.replace(/\$\{?DSTACK_ROUTER_INTERNAL_IP\}?/g, "127.0.0.1").replace(/:\d+$/, `:${port}`);
}

const recipeFlags = frontendCommand(recipe);
const exported = recipeExports(recipe);
let etcd: EtcdServer;
let nats: NatsServer;
let frontend: Awaited<ReturnType<typeof kvasir>> | undefined;
let workers: WorkerProcess[] = [];
let baseUrl: string;
let env: Record<string, string>;
let frontendFlags: string[];

beforeAll(async () => {
  [etcd, nats] = await Promise.all([startEtcdServer(), startNatsServer()]);
  env = {
    ETCD_ENDPOINTS: localized(exported, "ETCD_ENDPOINTS", etcd.clientPort),
    NATS_SERVER: localized(exported, "NATS_SERVER", nats.port),
  };
  frontendFlags = await withFreePorts(recipeFlags);
  // As in the recipe, the frontend (router replica) comes up first and the workers join it through etcd.
  frontend = await kvasir(["frontend", ...frontendFlags], /frontend ready/, env);
  baseUrl = `http://127.0.0.1:${httpPortOf(frontendFlags)}`;
  const workerArgs = ["--discovery-backend", "etcd", "--kv-cache-block-size", "64"];
  // Each worker replica exports DYN_SYSTEM_PORT for dstack's /health probe; here each needs its own port.
  workers = await Promise.all(
    [0, 1].map(async () => startWorker(workerArgs, { ...env, DYN_SYSTEM_PORT: String(await freePort()) })),
  );
  await waitForInstances(
    baseUrl,
    workers.map((w) => w.instanceId),
  );
}, 45_000);

afterAll(async () => {
  await stopAll([frontend, ...workers.map((w) => w.process)]);
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

describe("the dstack recipe's frontend line as `kvasir frontend`", () => {
  it("is the recipe's line: etcd discovery, KV routing, 64-token blocks", () => {
    // What the rest of this test relies on; a recipe that changes these fails here with its new line.
    expect(recipeFlags.join(" ")).toMatch(/--discovery-backend etcd/);
    expect(recipeFlags.join(" ")).toMatch(/--router-mode kv/);
    expect(recipeFlags.join(" ")).toMatch(/--kv-cache-block-size 64/);
    expect(env.ETCD_ENDPOINTS).toBe(etcd.url);
    expect(env.NATS_SERVER).toBe(nats.url);
  });

  it("serves the mocker workers registered in etcd, with 64-token blocks", async () => {
    expect(await modelIds(baseUrl)).toContain(MODEL);
    const metrics = await (await fetch(`${baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/model_kv_cache_block_size\{[^}]*model="Qwen\/Qwen3-0\.6B"[^}]*\} 64\b/);
    const served = new Set<string>();
    for (let i = 0; i < 4; i++) {
      served.add(expectServed(await chat(baseUrl, `question ${i}`)));
      served.add(expectServed(await complete(baseUrl, `prompt ${i}`)));
    }
    expect(served.size).toBeGreaterThan(0);
    for (const id of served) expect(workers.map((w) => w.instanceId)).toContain(id);
    // The workers' status servers answer dstack's /health probe.
    for (const worker of workers) {
      const ready: unknown = JSON.parse(await worker.process.waitForLine(/worker ready/));
      expect(ready).toMatchObject({ status_url: expect.stringMatching(/^http:/) });
      const { status_url } = ready as { status_url: string };
      expect((await fetch(`${status_url}/health`)).status).toBe(200);
    }
  });

  it("routes a repeated long prompt to the worker that cached its blocks (--router-mode kv)", async () => {
    // Well over one 64-token block, so the worker that served it holds whole blocks of its prefix.
    const prompt = Array.from({ length: 60 }, (_, i) => `sentence ${i} about prefill and decode.`).join(" ");
    const first = expectServed(await complete(baseUrl, prompt));
    // The KV events of that request reach the frontend over NATS, a path independent of the response's.
    await sleep(500);
    for (let i = 0; i < 4; i++) expect(expectServed(await complete(baseUrl, prompt))).toBe(first);
  });
});
