// Two hosts for real (issue 9, "reachable across hosts"): two network namespaces joined by a veth pair stand for
// two machines. nats-server and `kvasir frontend` run in A (198.18.0.1); mocker workers bound to 0.0.0.0 run in B
// (198.18.0.2) and must advertise B's address by themselves, since 127.0.0.1 would point the frontend at A. Without
// root or permission for `ip netns`, the same test runs on loopback only and says so.
import { execFile, spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { formatInstanceId } from "@kvasir/runtime";
import {
  freePort,
  type NatsServer,
  type NodeProcess,
  spawnNode,
  startNatsServer,
  waitFor,
} from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createNamespaces,
  deleteNamespaces,
  httpFrom,
  namespacePair,
  namespacesUnavailable,
  type Reply,
} from "./network-namespaces.js";

const MODEL = "Qwen/Qwen3-0.6B";
const NAMESPACE = "two-hosts";
const cli = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const cliDir = fileURLToPath(new URL("..", import.meta.url));
const tsxLoader = createRequire(import.meta.url).resolve("tsx");
const run = promisify(execFile);

const pair = namespacePair("th", "198.18.0");

/** Where each part runs and which addresses it binds, advertises and must be seen under. */
interface Layout {
  title: string;
  /** Command prefixes that put a process on host A (nats-server, frontend, the test's HTTP client) or B. */
  inA: string[];
  inB: string[];
  hostA: string;
  /** The two workers' flags for bind and advertise address, and the host they must register. */
  workerFlags: string[];
  workerHost: string;
  /** The third worker's explicit `--advertise-host`, and its bind address. */
  explicitHost: string;
  explicitBind: string;
}

const twoNamespaces: Layout = {
  title: "two network namespaces joined by a veth pair",
  inA: pair.inA,
  inB: pair.inB,
  hostA: pair.addressA,
  // No advertise flag: a wildcard bind has to find 198.18.0.2 itself.
  workerFlags: ["--host", "0.0.0.0"],
  workerHost: pair.addressB,
  // An address on B's loopback that A routes to via B, so it differs from the primary address yet is dialable.
  explicitHost: "198.18.1.2",
  explicitBind: "0.0.0.0",
};

const loopbackOnly: Layout = {
  title: "loopback only",
  inA: [],
  inB: [],
  hostA: "127.0.0.1",
  workerFlags: ["--host", "127.0.0.1", "--advertise-host", "127.0.0.1"],
  workerHost: "127.0.0.1",
  explicitHost: "localhost",
  explicitBind: "127.0.0.1",
};

const unavailable = namespacesUnavailable();
const layout = unavailable === undefined ? twoNamespaces : loopbackOnly;
if (unavailable !== undefined) {
  console.warn(
    `two-hosts.test.ts: the two-namespace variant was NOT run because ${unavailable}; running the loopback-only variant`,
  );
}

/** The namespaces, plus an address on B's loopback that A routes to through B (the explicit advertise host). */
function createHosts(): void {
  createNamespaces(pair);
  ip("-n", pair.b, "addr", "add", `${twoNamespaces.explicitHost}/32`, "dev", "lo");
  ip("-n", pair.a, "route", "add", `${twoNamespaces.explicitHost}/32`, "via", pair.addressB);
}

function ip(...args: string[]): void {
  const result = spawnSync("ip", args, { encoding: "utf8", timeout: 5000 });
  if (result.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${result.stderr || result.error}`);
}

if (layout === twoNamespaces) process.on("exit", () => deleteNamespaces(pair));

// Runs on host A, where nats-server is reachable: a read of discovery's instance records.
const discoveryScript = `
const input = JSON.parse(process.argv[1]);
const { createDiscovery } = await import("@kvasir/runtime");
const discovery = await createDiscovery({ backend: "nats", natsServers: input.nats });
const entries = await discovery.list(input.prefix);
await discovery.close();
console.log(JSON.stringify(entries));
`;

async function http(requests: { path: string; body?: object }[]): Promise<Reply[]> {
  return httpFrom(
    layout.inA,
    requests.map((r) => ({ url: `${frontendUrl}${r.path}`, ...(r.body ? { body: r.body } : {}) })),
  );
}

/** Discovery's instance records of the backend workers: instance id (hex) → registered address. */
async function registeredAddresses(): Promise<Map<string, string>> {
  const input = { nats: nats?.url, prefix: `v1/instances/${NAMESPACE}/backend/generate/` };
  const node = [process.execPath, "--import", tsxLoader, "--input-type=module", "-e", discoveryScript];
  const [command = "", ...args] = [...layout.inA, ...node, JSON.stringify(input)];
  const { stdout } = await run(command, args, { cwd: cliDir, timeout: 20_000 });
  const entries: unknown = JSON.parse(stdout);
  const addresses = new Map<string, string>();
  for (const entry of entries as { key: string; value: { address: string } }[]) {
    addresses.set(entry.key.split("/").at(-1) ?? "", entry.value.address);
  }
  return addresses;
}

interface Worker {
  process: NodeProcess;
  id: string;
  ready: { url: string; instance_id: string };
  registered: { address: string };
}

let nats: NatsServer | undefined;
let frontend: NodeProcess | undefined;
let frontendUrl = "";
const workers: Worker[] = [];
const started: NodeProcess[] = [];
// Settings that would pick an advertised address or router mode for the children, whatever the caller's shell has.
const cleanEnv = { DYN_TCP_RPC_HOST: undefined, DYN_HTTP_RPC_HOST: undefined, DYN_ROUTER_MODE: undefined };

function planeFlags(): string[] {
  const url = nats?.url ?? "";
  return [
    "--discovery-backend",
    "nats",
    "--event-plane",
    "nats",
    "--nats-server",
    url,
    "--namespace",
    NAMESPACE,
  ];
}

async function startWorker(flags: string[]): Promise<Worker> {
  const child = await spawnNode(
    cli,
    ["worker", "--backend", "mocker", ...planeFlags(), ...flags, "--speedup-ratio", "10"],
    { commandPrefix: layout.inB, env: cleanEnv, readyLine: /worker ready/, readyTimeoutMs: 20_000 },
  );
  started.push(child);
  const ready = JSON.parse(await child.waitForLine(/worker ready/));
  const registered = JSON.parse(await child.waitForLine(/"registered"/));
  return { process: child, id: ready.instance_id, ready, registered };
}

/** Token-id completions through the frontend; the hex instance id of the worker that served each. */
async function servedBy(count: number): Promise<string[]> {
  const body = { model: MODEL, prompt: [101, 102, 103, 104], max_tokens: 3, ignore_eos: true };
  const replies = await http(Array.from({ length: count }, () => ({ path: "/v1/completions", body })));
  return replies.map((reply) => {
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    const answer = reply.body as {
      usage: { completion_tokens: number };
      nvext: { worker_id: { decode_worker_id: string } };
    };
    expect(answer.usage.completion_tokens).toBe(3);
    return formatInstanceId(BigInt(answer.nvext.worker_id.decode_worker_id));
  });
}

async function waitForInstances(count: number): Promise<string[]> {
  let instances: string[] = [];
  await waitFor(
    async () => {
      const [reply] = await http([{ path: "/health" }]).catch(() => []);
      const health = reply?.body as { models?: Record<string, { instances: string[] }> } | undefined;
      instances = health?.models?.[MODEL]?.instances ?? [];
      return instances.length === count;
    },
    { timeoutMs: 15_000, intervalMs: 200, message: `${count} workers on the frontend's /health` },
  );
  return instances;
}

async function stop(child: NodeProcess): Promise<void> {
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await child.exited;
  clearTimeout(timer);
}

async function startFrontend(port: number): Promise<NodeProcess> {
  const flags = ["--http-host", layout.hostA, "--http-port", String(port), "--router-mode", "round-robin"];
  const child = await spawnNode(cli, ["frontend", ...planeFlags(), ...flags], {
    commandPrefix: layout.inA,
    env: cleanEnv,
    readyLine: /frontend ready/,
    readyTimeoutMs: 20_000,
  });
  started.push(child);
  return child;
}

beforeAll(async () => {
  if (layout === twoNamespaces) createHosts();
  nats = await startNatsServer({ host: layout.hostA, commandPrefix: layout.inA });
  const port = await freePort();
  frontendUrl = `http://${layout.hostA}:${port}`;
  // Every start settles before a failure is thrown, so afterAll stops all that did start.
  const [front, ...pair] = await Promise.allSettled([
    startFrontend(port),
    startWorker(layout.workerFlags),
    startWorker(layout.workerFlags),
  ]);
  for (const worker of pair) {
    if (worker.status === "rejected") throw worker.reason;
    workers.push(worker.value);
  }
  if (front.status === "rejected") throw front.reason;
  frontend = front.value;
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map(stop));
  await nats?.stop();
  if (layout === twoNamespaces) deleteNamespaces(pair);
}, 30_000);

describe(`two hosts (${layout.title})`, () => {
  it(`workers log and register ${layout.workerHost} as their address`, async () => {
    for (const worker of workers) {
      expect(new URL(worker.ready.url).hostname).toBe(layout.workerHost);
      expect(new URL(worker.registered.address).hostname).toBe(layout.workerHost);
      if (layout === twoNamespaces) expect(worker.ready.url).not.toContain("127.0.0.1");
    }
    const registered = await registeredAddresses();
    for (const worker of workers) expect(registered.get(worker.id)).toBe(worker.ready.url);
  });

  it("the frontend lists the model, and completions reach both workers through their advertised addresses", async () => {
    await waitForInstances(2);
    const [models] = await http([{ path: "/v1/models" }]);
    expect(models?.status).toBe(200);
    expect(models?.body).toMatchObject({ data: [expect.objectContaining({ id: MODEL })] });
    const served = await servedBy(4);
    expect(new Set(served)).toEqual(new Set(workers.map((w) => w.id)));
    // No request needed a second try: the first address the frontend dialed answered.
    expect([...(frontend?.stdout ?? []), ...(frontend?.stderr ?? [])].join("\n")).not.toMatch(
      /request failed|retrying request|migrating request/,
    );
  });

  it(`a worker with --advertise-host ${layout.explicitHost} is registered, and served, under that host`, async () => {
    const explicit = await startWorker([
      "--host",
      layout.explicitBind,
      "--advertise-host",
      layout.explicitHost,
    ]);
    workers.push(explicit);
    expect(new URL(explicit.ready.url).hostname).toBe(layout.explicitHost);
    expect((await registeredAddresses()).get(explicit.id)).toBe(explicit.ready.url);
    expect(await waitForInstances(3)).toContain(explicit.id);
    // Round-robin over three workers: three requests in a row reach each once.
    expect(new Set(await servedBy(3))).toEqual(new Set(workers.map((w) => w.id)));
  });
});
