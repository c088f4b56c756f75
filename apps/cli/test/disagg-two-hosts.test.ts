// Disaggregated serving across two hosts (issue 10): the prefill worker runs on host B, nats-server, the frontend
// and the decode worker on host A, the hosts being two network namespaces joined by a veth pair. The decode worker
// pulls the prompts' KV blocks from B over the transfer engine's TCP transport and releases them on B through
// ReleaseKvBlocks. Without root or `ip netns`, the test runs on loopback and says so; it still crosses TCP there,
// since the prefill worker binds and advertises 127.0.0.2 and a decode worker only reads through shared memory
// from a worker that advertises its own host.
import { fileURLToPath } from "node:url";
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
import { MODEL, metricSum } from "./kvasir-processes.js";
import {
  createNamespaces,
  deleteNamespaces,
  httpFrom,
  namespacePair,
  namespacesUnavailable,
  type Reply,
} from "./network-namespaces.js";

const cli = fileURLToPath(new URL("../src/main.ts", import.meta.url));
const BLOCK_SIZE = 16;
const KV_BYTES_PER_TOKEN = 16_384;

interface Layout {
  title: string;
  inA: string[];
  inB: string[];
  /** Where nats-server and the frontend listen (host A). */
  hostA: string;
  /** The decode worker's flags (host A) and the prefill worker's (host B), and B's address as registered. */
  decodeFlags: string[];
  prefillFlags: string[];
  hostB: string;
}

const pair = namespacePair("dd", "198.18.4");
const unavailable = namespacesUnavailable();
const layout: Layout =
  unavailable === undefined
    ? {
        title: "two network namespaces joined by a veth pair",
        inA: pair.inA,
        inB: pair.inB,
        hostA: pair.addressA,
        decodeFlags: ["--host", pair.addressA],
        // A wildcard bind: the worker has to find and advertise B's address itself.
        prefillFlags: ["--host", "0.0.0.0"],
        hostB: pair.addressB,
      }
    : {
        title: "loopback only, prefill worker on 127.0.0.2",
        inA: [],
        inB: [],
        hostA: "127.0.0.1",
        decodeFlags: ["--host", "127.0.0.1"],
        prefillFlags: ["--host", "127.0.0.2"],
        hostB: "127.0.0.2",
      };
if (unavailable !== undefined) {
  console.warn(
    `disagg-two-hosts.test.ts: the two-namespace variant was NOT run because ${unavailable}; running on loopback (127.0.0.1 and 127.0.0.2, still over TCP)`,
  );
}

interface Started {
  process: NodeProcess;
  ready: { url: string; instance_id: string; status_url?: string };
}

let nats: NatsServer | undefined;
let frontendUrl = "";
let prefill: Started;
let decode: Started;
const started: NodeProcess[] = [];

function planeFlags(): string[] {
  const flags = ["--discovery-backend", "nats", "--event-plane", "nats", "--nats-server", nats?.url ?? ""];
  return [...flags, "--namespace", "disagg-two-hosts"];
}

async function startWorker(prefix: string[], mode: string, flags: string[]): Promise<Started> {
  const args = ["worker", "--backend", "mocker", ...planeFlags(), "--disaggregation-mode", mode, ...flags];
  args.push("--kv-cache-block-size", String(BLOCK_SIZE), "--kv-bytes-per-token", String(KV_BYTES_PER_TOKEN));
  args.push("--system-port", String(await freePort()), "--speedup-ratio", "10");
  const child = await spawnNode(cli, args, {
    commandPrefix: prefix,
    // Nothing from the caller's shell may pick another advertised address.
    env: { DYN_TCP_RPC_HOST: undefined, DYN_HTTP_RPC_HOST: undefined },
    readyLine: /worker ready/,
    readyTimeoutMs: 20_000,
  });
  started.push(child);
  return { process: child, ready: JSON.parse(await child.waitForLine(/worker ready/)) };
}

/** HTTP from host A, where the frontend is reachable. */
const onHostA = (requests: { url: string; body?: object }[]): Promise<Reply[]> =>
  httpFrom(layout.inA, requests);

beforeAll(async () => {
  if (unavailable === undefined) {
    process.on("exit", () => deleteNamespaces(pair));
    createNamespaces(pair);
  }
  nats = await startNatsServer({ host: layout.hostA, commandPrefix: layout.inA });
  const port = await freePort();
  frontendUrl = `http://${layout.hostA}:${port}`;
  const frontendFlags = ["--router-mode", "kv", "--http-host", layout.hostA, "--http-port", String(port)];
  // Every start settles before a failure is thrown, so afterAll stops all that did start.
  const [front, p, d] = await Promise.allSettled([
    spawnNode(cli, ["frontend", ...planeFlags(), ...frontendFlags], {
      commandPrefix: layout.inA,
      readyLine: /frontend ready/,
      readyTimeoutMs: 20_000,
    }),
    startWorker(layout.inB, "prefill", layout.prefillFlags),
    startWorker(layout.inA, "decode", layout.decodeFlags),
  ]);
  if (front.status === "fulfilled") started.push(front.value);
  for (const result of [front, p, d]) if (result.status === "rejected") throw result.reason;
  if (p.status === "fulfilled") prefill = p.value;
  if (d.status === "fulfilled") decode = d.value;
  const want = [prefill.ready.instance_id, decode.ready.instance_id].sort().join(",");
  await waitFor(
    async () => {
      const [reply] = await onHostA([{ url: `${frontendUrl}/health` }]).catch(() => []);
      const health = reply?.body as { models?: Record<string, { instances: string[] }> } | undefined;
      return (health?.models?.[MODEL]?.instances ?? []).sort().join(",") === want;
    },
    { timeoutMs: 15_000, intervalMs: 200, message: "the frontend lists the prefill and the decode worker" },
  );
}, 60_000);

afterAll(async () => {
  await Promise.all(
    started.map(async (child) => {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await child.exited;
      clearTimeout(timer);
    }),
  );
  await nats?.stop();
  if (unavailable === undefined) deleteNamespaces(pair);
}, 30_000);

/**
 * A worker's status server as `host` reaches it: workers log the local URL of it (for probes on their own host),
 * which for a wildcard bind is loopback.
 */
function statusUrlOf(worker: Started, host: string): string {
  const url = new URL(worker.ready.status_url ?? "");
  url.hostname = host;
  return url.origin;
}

/** The counters this test reads, scraped from host A: the frontend's, the decode worker's and the prefill's. */
async function snapshot() {
  const replies = await onHostA(
    [frontendUrl, statusUrlOf(decode, layout.hostA), statusUrlOf(prefill, layout.hostB)].map((url) => ({
      url: `${url}/metrics`,
    })),
  );
  const [front, decodeText, prefillText] = replies.map((r) => {
    expect(r.status).toBe(200);
    return String(r.body);
  });
  const component = (text: string | undefined, name: string, labels: Record<string, string> = {}) =>
    metricSum(text ?? "", `dynamo_component_${name}`, labels);
  return {
    remote: metricSum(front ?? "", "dynamo_frontend_disaggregated_requests_total", { prefill: "remote" }),
    otherPrefills: ["local", "fallback"].map((where) =>
      metricSum(front ?? "", "dynamo_frontend_disaggregated_requests_total", { prefill: where }),
    ),
    tcpTransfers: component(decodeText, "kv_transfer_bytes_count", { transport: "tcp" }),
    tcpBytes: component(decodeText, "kv_transfer_bytes_sum", { transport: "tcp" }),
    tcpBlocks: component(decodeText, "kv_transfer_blocks_total", { transport: "tcp" }),
    shmTransfers: component(decodeText, "kv_transfer_bytes_count", { transport: "shm" }),
    recomputed: component(decodeText, "kv_transfer_fallbacks_total"),
    prefillRequests: component(prefillText, "requests_total"),
    released: component(prefillText, "kv_transfer_releases_total", { reason: "released" }),
  };
}

interface Answer {
  usage: { prompt_tokens: number; completion_tokens: number };
  nvext: { worker_id: { prefill_worker_id: string; decode_worker_id: string } };
}

describe(`disaggregated serving across two hosts (${layout.title})`, () => {
  it(`the prefill worker registers ${layout.hostB}, the decode worker ${layout.hostA}`, () => {
    expect(new URL(prefill.ready.url).hostname).toBe(layout.hostB);
    expect(new URL(decode.ready.url).hostname).toBe(layout.hostA);
  });

  it("serves every request with its prompt prefilled on B and its KV pulled to A over TCP", async () => {
    const before = await snapshot();
    const prompts = [120, 250, 400].map((n, i) =>
      Array.from({ length: n }, (_, k) => 1000 + ((k * 53 + i * 6151) % 25_000)),
    );
    const replies = await onHostA([
      ...prompts.map((prompt) => ({
        url: `${frontendUrl}/v1/completions`,
        body: { model: MODEL, prompt, max_tokens: 3, ignore_eos: true },
      })),
      {
        url: `${frontendUrl}/v1/chat/completions`,
        body: { model: MODEL, messages: [{ role: "user", content: "from host A" }], max_tokens: 3 },
      },
    ]);
    let blocks = 0;
    for (const reply of replies) {
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      const answer = reply.body as Answer;
      expect(answer.usage.completion_tokens).toBe(3);
      const { prefill_worker_id, decode_worker_id } = answer.nvext.worker_id;
      expect(formatInstanceId(BigInt(prefill_worker_id))).toBe(prefill.ready.instance_id);
      expect(formatInstanceId(BigInt(decode_worker_id))).toBe(decode.ready.instance_id);
      blocks += Math.ceil(answer.usage.prompt_tokens / BLOCK_SIZE);
    }
    // The release call crosses back to B after each pull, without the decode worker waiting for it.
    let after = await snapshot();
    await waitFor(
      async () => {
        after = await snapshot();
        return after.released - before.released === replies.length;
      },
      { timeoutMs: 10_000, intervalMs: 200, message: "the prefill worker on B freed every request's blocks" },
    );
    expect(after.remote - before.remote).toBe(replies.length);
    expect(after.otherPrefills).toEqual(before.otherPrefills);
    expect(after.prefillRequests - before.prefillRequests).toBe(replies.length);
    expect(after.tcpTransfers - before.tcpTransfers).toBe(replies.length);
    expect(after.tcpBlocks - before.tcpBlocks).toBe(blocks);
    expect(after.tcpBytes - before.tcpBytes).toBe(blocks * BLOCK_SIZE * KV_BYTES_PER_TOKEN);
    expect(after.shmTransfers).toBe(before.shmTransfers);
    expect(after.recomputed).toBe(before.recomputed);
  });
});
