// Conditional disaggregation (Dynamo's max_local_prefill_length; issue 10): with `--max-local-prefill-length 64`
// on `kvasir frontend`, a prompt of at most 64 tokens, or one whose uncached part on a decode worker is at most 64
// tokens, is prefilled by the decode worker itself; the prefill worker never sees it. A long uncached prompt still
// goes through the prefill pool.
import { fromBinary, KvEventBatchSchema } from "@kvasir/protocol";
import { createEventPlane, type EventPlane, formatInstanceId, kvEventsSubject } from "@kvasir/runtime";
import {
  freePort,
  type NatsServer,
  type NodeProcess,
  sleep,
  startNatsServer,
  waitFor,
} from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chat,
  complete,
  expectServedBy,
  kvasir,
  MODEL,
  metricSum,
  scrape,
  startWorker,
  stopAll,
  type WorkerProcess,
  waitForInstances,
} from "./kvasir-processes.js";

const NAMESPACE = "disagg-conditional";
const BLOCK_SIZE = 16;
const MAX_LOCAL_PREFILL = 64;

let nats: NatsServer | undefined;
let events: EventPlane | undefined;
let baseUrl = "";
let prefill: WorkerProcess;
let decodes: WorkerProcess[] = [];
const started: NodeProcess[] = [];
/** Blocks each decode worker has announced as stored (KV events over NATS), by hex instance id. */
const storedBlocks = new Map<string, number>();

beforeAll(async () => {
  nats = await startNatsServer();
  const planeFlags = ["--discovery-backend", "nats", "--event-plane", "nats", "--nats-server", nats.url];
  planeFlags.push("--namespace", NAMESPACE, "--kv-cache-block-size", String(BLOCK_SIZE));
  events = await createEventPlane({ backend: "nats", natsServers: nats.url });
  events.subscribe(kvEventsSubject(NAMESPACE, "decode"), (msg) => {
    for (const event of fromBinary(KvEventBatchSchema, msg.data).events) {
      if (event.data.case !== "stored") continue;
      const id = formatInstanceId(event.workerId);
      storedBlocks.set(id, (storedBlocks.get(id) ?? 0) + event.data.value.blocks.length);
    }
  });
  const worker = async (mode: string) => {
    const flags = ["--disaggregation-mode", mode, "--kv-bytes-per-token", "4096"];
    const w = await startWorker([...planeFlags, ...flags, "--system-port", String(await freePort())]);
    started.push(w.process);
    return w;
  };
  const [p, ...d] = await Promise.all([worker("prefill"), worker("decode"), worker("decode")]);
  if (!p) throw new Error("no prefill worker");
  prefill = p;
  decodes = d;
  const port = await freePort();
  const frontend = await kvasir(
    [
      ...["frontend", ...planeFlags, "--router-mode", "kv", "--http-host", "127.0.0.1"],
      ...["--http-port", String(port), "--max-local-prefill-length", String(MAX_LOCAL_PREFILL)],
    ],
    /frontend ready/,
  );
  started.push(frontend);
  baseUrl = `http://127.0.0.1:${port}`;
  await waitForInstances(
    baseUrl,
    [p, ...d].map((w) => w.instanceId),
  );
}, 40_000);

afterAll(async () => {
  await stopAll(started);
  await events?.close();
  await nats?.stop();
}, 20_000);

/** Where the frontend says prompts were prefilled, and how many requests the prefill worker ran. */
async function snapshot() {
  const [front, prefillText, ...decodeTexts] = await Promise.all(
    [baseUrl, prefill.statusUrl, ...decodes.map((d) => d.statusUrl)].map((url) => scrape(url ?? "")),
  );
  const disagg = (where: string) =>
    metricSum(front ?? "", "dynamo_frontend_disaggregated_requests_total", { model: MODEL, prefill: where });
  return {
    remote: disagg("remote"),
    local: disagg("local"),
    fallback: disagg("fallback"),
    prefillRequests: metricSum(prefillText ?? "", "dynamo_component_requests_total"),
    transfers: decodeTexts.reduce((n, t) => n + metricSum(t, "dynamo_component_kv_transfer_bytes_count"), 0),
  };
}

const tokens = (length: number, seed: number) =>
  Array.from({ length }, (_, k) => 1000 + ((k * 211 + seed * 4099) % 25_000));

describe("conditional disaggregation (--max-local-prefill-length 64)", () => {
  it("prefills short prompts on the decode worker", async () => {
    const before = await snapshot();
    const results = [
      await complete(baseUrl, tokens(MAX_LOCAL_PREFILL - 24, 1)),
      await complete(baseUrl, tokens(MAX_LOCAL_PREFILL, 2)),
      await chat(baseUrl, "hi"),
    ];
    for (const result of results) {
      expect(result.body.usage?.prompt_tokens).toBeLessThanOrEqual(MAX_LOCAL_PREFILL);
      const { prefill: p, decode } = expectServedBy(result);
      expect(p).toBe(decode);
      expect(decodes.map((d) => d.instanceId)).toContain(decode);
    }
    const after = await snapshot();
    expect(after.local - before.local).toBe(results.length);
    expect([after.remote, after.fallback, after.transfers]).toEqual([
      before.remote,
      before.fallback,
      before.transfers,
    ]);
    expect(after.prefillRequests).toBe(before.prefillRequests);
  });

  it("sends a long prompt to the prefill pool, and the same prompt again, cached on its decode worker, not", async () => {
    const prompt = tokens(300, 3);
    const fullBlocks = Math.floor(prompt.length / BLOCK_SIZE);
    const before = await snapshot();
    const storedBefore = new Map(storedBlocks);
    const first = await complete(baseUrl, prompt);
    const firstBy = expectServedBy(first);
    expect(firstBy.prefill).toBe(prefill.instanceId);
    const middle = await snapshot();
    expect(middle.remote - before.remote).toBe(1);
    expect(middle.prefillRequests - before.prefillRequests).toBe(1);
    expect(middle.transfers - before.transfers).toBe(1);

    // The decode worker stores the pulled blocks and says so in KV events, which the frontend's decode router
    // indexes; seen here on the same subject, then given a moment to be applied there too.
    const announced = () => (storedBlocks.get(firstBy.decode) ?? 0) - (storedBefore.get(firstBy.decode) ?? 0);
    await waitFor(() => announced() >= fullBlocks, {
      timeoutMs: 5000,
      message: `decode worker ${firstBy.decode} announces the prompt's ${fullBlocks} full blocks`,
    });
    await sleep(300);

    // All but the last partial block is cached: 300 - 18 x 16 = 12 tokens to prefill, under 64.
    const second = await complete(baseUrl, prompt);
    const secondBy = expectServedBy(second);
    expect(secondBy).toEqual({ prefill: firstBy.decode, decode: firstBy.decode });
    expect(second.body.usage?.prompt_tokens_details?.cached_tokens).toBe(fullBlocks * BLOCK_SIZE);
    const after = await snapshot();
    expect(after.local - middle.local).toBe(1);
    expect([after.remote, after.fallback, after.transfers]).toEqual([
      middle.remote,
      middle.fallback,
      middle.transfers,
    ]);
    expect(after.prefillRequests).toBe(middle.prefillRequests);
  });
});
