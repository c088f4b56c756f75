// Disaggregated serving as Dynamo deploys it (issue 10): one prefill and two decode `kvasir worker` processes and
// `kvasir frontend --router-mode kv`, each its own process, over NATS and over etcd discovery. Every request runs
// its prompt on the prefill worker, the prompt's KV bytes move to a decode worker (checked block by block against
// the prefill worker's checksums), and the decode worker streams the answer, in the shape aggregated serving
// streams it (compared with `kvasir serve`).
import {
  type EtcdServer,
  freePort,
  type NatsServer,
  type NodeProcess,
  startEtcdServer,
  startNatsServer,
  waitFor,
} from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Completion,
  chat,
  complete,
  expectServedBy,
  kvasir,
  MODEL,
  metricSum,
  scrape,
  startWorker,
  stopAll,
  streamEvents,
  streamShape,
  type WorkerProcess,
  waitForInstances,
} from "./kvasir-processes.js";

const BLOCK_SIZE = 16;
// Small, so the test counts transfers without spending its time on them.
const KV_BYTES_PER_TOKEN = 4096;

let nats: NatsServer | undefined;
let etcd: EtcdServer | undefined;
let aggregated: NodeProcess | undefined;
let aggregatedUrl = "";

beforeAll(async () => {
  // Aggregated serving of the same model: the reference for what a client sees.
  const port = await freePort();
  const flags = ["--workers", "1", "--namespace", "disagg-serving-agg", "--speedup-ratio", "10"];
  aggregated = await kvasir(
    ["serve", ...flags, "--http-host", "127.0.0.1", "--http-port", String(port)],
    /"serving"/,
  );
  aggregatedUrl = `http://127.0.0.1:${port}`;
}, 30_000);

afterAll(async () => {
  await stopAll([aggregated]);
  await Promise.all([nats?.stop(), etcd?.stop()]);
}, 20_000);

interface Deployment {
  baseUrl: string;
  prefill: WorkerProcess;
  decodes: WorkerProcess[];
}

/** One prefill and two decode workers and a KV-routing frontend, all with `planeFlags`; `started` gets each. */
async function deploy(planeFlags: string[], started: NodeProcess[]): Promise<Deployment> {
  const tracked = async (start: Promise<WorkerProcess>) => {
    const worker = await start;
    started.push(worker.process);
    return worker;
  };
  const kvFlags = [
    "--kv-cache-block-size",
    String(BLOCK_SIZE),
    "--kv-bytes-per-token",
    String(KV_BYTES_PER_TOKEN),
  ];
  const worker = async (mode: string) =>
    tracked(
      startWorker([
        ...planeFlags,
        ...kvFlags,
        "--disaggregation-mode",
        mode,
        "--system-port",
        String(await freePort()),
      ]),
    );
  const [prefill, ...decodes] = await Promise.all([worker("prefill"), worker("decode"), worker("decode")]);
  if (!prefill) throw new Error("no prefill worker");
  const port = await freePort();
  const frontend = await kvasir(
    [
      "frontend",
      ...planeFlags,
      "--router-mode",
      "kv",
      "--http-host",
      "127.0.0.1",
      "--http-port",
      String(port),
    ],
    /frontend ready/,
  );
  started.push(frontend);
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForInstances(
    baseUrl,
    [prefill, ...decodes].map((w) => w.instanceId),
  );
  return { baseUrl, prefill, decodes };
}

/** Every metric this test reads, from the frontend and each worker at one moment. */
async function snapshot({ baseUrl, prefill, decodes }: Deployment) {
  const [frontend, prefillText, ...decodeTexts] = await Promise.all(
    [baseUrl, prefill.statusUrl, ...decodes.map((d) => d.statusUrl)].map((url) => scrape(url ?? "")),
  );
  const disagg = (prefill: string) =>
    metricSum(frontend ?? "", "dynamo_frontend_disaggregated_requests_total", { model: MODEL, prefill });
  const decode = (name: string, labels: Record<string, string> = {}) =>
    decodeTexts.map((text) => metricSum(text, `dynamo_component_${name}`, labels));
  const prefillMetric = (name: string, labels: Record<string, string> = {}) =>
    metricSum(prefillText ?? "", `dynamo_component_${name}`, labels);
  return {
    remote: disagg("remote"),
    local: disagg("local"),
    fallback: disagg("fallback"),
    prefillRequests: prefillMetric("requests_total"),
    heldBlocks: prefillMetric("kv_transfer_held_blocks"),
    released: prefillMetric("kv_transfer_releases_total", { reason: "released" }),
    decodeRequests: decode("requests_total"),
    verifiedBlocks: decode("kv_transfer_blocks_total", { transport: "shm" }),
    transfers: decode("kv_transfer_bytes_count", { transport: "shm" }),
    transferredBytes: decode("kv_transfer_bytes_sum", { transport: "shm" }),
    recomputed: decode("kv_transfer_fallbacks_total"),
  };
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const minus = (after: number[], before: number[]) => after.map((v, i) => v - (before[i] ?? 0));

/** Distinct prompts of 100 to 300 tokens: half chats (text), half completions (token ids). */
function requests(deployment: Deployment, tag: string): Promise<Completion>[] {
  return [0, 1, 2, 3, 4, 5].map((i) =>
    i % 2 === 0
      ? chat(deployment.baseUrl, `${tag} ${i}: ${"tell me about disaggregated serving. ".repeat(10 + 5 * i)}`)
      : complete(
          deployment.baseUrl,
          Array.from({ length: 100 + 40 * i }, (_, k) => 1000 + ((k * 31 + i * 977) % 20_000)),
        ),
  );
}

function disaggregatedServing(title: string, planes: () => Promise<string[]>): void {
  describe(title, () => {
    let deployment: Deployment;
    const started: NodeProcess[] = [];

    beforeAll(async () => {
      deployment = await deploy(await planes(), started);
    }, 40_000);

    afterAll(() => stopAll(started), 20_000);

    it("runs every request prefill → KV transfer → decode, on both decode workers, with verified bytes", async () => {
      const { prefill, decodes } = deployment;
      const decodeIds = decodes.map((d) => d.instanceId);
      const before = await snapshot(deployment);
      // Sent together, so the decode router's load accounting spreads them over both decode workers.
      const results = await Promise.all(requests(deployment, title));
      const servedBy = results.map((r) => expectServedBy(r));
      for (const { prefill: p, decode } of servedBy) {
        expect(p).toBe(prefill.instanceId);
        expect(decodeIds).toContain(decode);
        expect(decode).not.toBe(p);
      }
      expect(new Set(servedBy.map((s) => s.decode)).size).toBe(2);

      // The prefill worker holds ceil(prompt / block) blocks per request; the decode worker pulls exactly those.
      const blocksOf = (r: Completion) => Math.ceil((r.body.usage?.prompt_tokens ?? 0) / BLOCK_SIZE);
      const blocksPerDecode = decodeIds.map((id) =>
        sum(results.filter((_, i) => servedBy[i]?.decode === id).map(blocksOf)),
      );
      const servedPerDecode = decodeIds.map((id) => servedBy.filter((s) => s.decode === id).length);
      // Released after the pull, by a call the decode worker does not wait for.
      await waitFor(async () => (await snapshot(deployment)).released - before.released === results.length, {
        timeoutMs: 5000,
        message: "the prefill worker freed every request's blocks on release",
      });
      const after = await snapshot(deployment);
      expect(after.remote - before.remote).toBe(results.length);
      expect(after.local - before.local).toBe(0);
      expect(after.fallback - before.fallback).toBe(0);
      expect(after.prefillRequests - before.prefillRequests).toBe(results.length);
      expect(after.heldBlocks).toBe(0);
      expect(minus(after.decodeRequests, before.decodeRequests)).toEqual(servedPerDecode);
      expect(minus(after.transfers, before.transfers)).toEqual(servedPerDecode);
      expect(minus(after.verifiedBlocks, before.verifiedBlocks)).toEqual(blocksPerDecode);
      expect(minus(after.transferredBytes, before.transferredBytes)).toEqual(
        blocksPerDecode.map((b) => b * BLOCK_SIZE * KV_BYTES_PER_TOKEN),
      );
      // No block failed its checksum, and no decode worker recomputed a prompt.
      expect(minus(after.recomputed, before.recomputed)).toEqual([0, 0]);
    });

    it("streams chat and completions in the same shape as aggregated serving", async () => {
      const before = await snapshot(deployment);
      const bodies = [
        [
          "/v1/chat/completions",
          { model: MODEL, messages: [{ role: "user", content: `${title}: stream a short story` }] },
        ],
        ["/v1/completions", { model: MODEL, prompt: `${title}: once upon a time` }],
      ] as const;
      for (const [path, request] of bodies) {
        const body = {
          ...request,
          max_tokens: 12,
          ignore_eos: true,
          stream_options: { include_usage: true },
        };
        const [disaggregated, aggregated] = await Promise.all([
          streamEvents(deployment.baseUrl, path, body),
          streamEvents(aggregatedUrl, path, body),
        ]);
        // Roles, deltas, the finish chunk, the usage chunk and [DONE], in the same order.
        expect(streamShape(disaggregated)).toEqual(streamShape(aggregated));
        expect(disaggregated.at(-1)).toBe("[DONE]");
        const usage = disaggregated.at(-2);
        expect(usage).toMatchObject({ choices: [], usage: { completion_tokens: 12 } });
        expect(JSON.stringify(disaggregated)).toContain('"finish_reason":"length"');
      }
      expect((await snapshot(deployment)).remote - before.remote).toBe(bodies.length);
    });
  });
}

disaggregatedServing("over NATS (discovery and events)", async () => {
  nats = await startNatsServer();
  const plane = ["--event-plane", "nats", "--nats-server", nats.url];
  return ["--discovery-backend", "nats", ...plane, "--namespace", "disagg-serving-nats"];
});

disaggregatedServing("over etcd discovery (NATS events)", async () => {
  [etcd, nats] = await Promise.all([startEtcdServer(), nats ?? startNatsServer()]);
  const plane = ["--event-plane", "nats", "--nats-server", nats.url];
  return [
    "--discovery-backend",
    "etcd",
    "--etcd-endpoints",
    etcd.url,
    ...plane,
    "--namespace",
    "disagg-serving-etcd",
  ];
});
