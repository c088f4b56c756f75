// `kvasir frontend` over two `kvasir worker` processes registered in a real etcd (leases) with NATS as the event
// plane, as Dynamo deploys them: the frontend serves both, and a SIGKILLed worker leaves with its lease.
import { createDiscovery, type Discovery, type DiscoveryEvent } from "@kvasir/runtime";
import {
  type EtcdServer,
  freePort,
  type NatsServer,
  startEtcdServer,
  startNatsServer,
  waitFor,
} from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chat,
  complete,
  expectServed,
  instancesOf,
  kvasir,
  MODEL,
  modelIds,
  startWorker,
  stopAll,
  type WorkerProcess,
  waitForInstances,
} from "./kvasir-processes.js";

const NAMESPACE = "etcd-frontend-test";
// Short so the test waits little for a lease to expire; etcd's own minimum TTL is under 2 s at its defaults.
const TTL_SECONDS = 2;
// Lease expiry is checked by etcd every 500 ms, then the delete travels through a watch to the frontend.
const REMOVAL_SLACK_MS = 2500;

let etcd: EtcdServer;
let nats: NatsServer;
let watcher: Discovery;
const instanceEvents: DiscoveryEvent[] = [];
let workers: WorkerProcess[] = [];
let frontend: Awaited<ReturnType<typeof kvasir>> | undefined;
let baseUrl: string;

beforeAll(async () => {
  [etcd, nats] = await Promise.all([startEtcdServer(), startNatsServer()]);
  // The deployment's endpoints come from the environment, as in Dynamo's recipes.
  const env = { ETCD_ENDPOINTS: etcd.url, NATS_SERVER: nats.url };
  watcher = await createDiscovery({ backend: "etcd", etcdEndpoints: etcd.url });
  const watch = watcher.watch(`v1/instances/${NAMESPACE}/backend/`);
  void (async () => {
    for await (const event of watch) instanceEvents.push(event);
  })();

  const common = ["--discovery-backend", "etcd", "--namespace", NAMESPACE];
  const workerArgs = [...common, "--kv-cache-block-size", "64", "--discovery-ttl", String(TTL_SECONDS)];
  workers = await Promise.all([startWorker(workerArgs, env), startWorker(workerArgs, env)]);
  const port = await freePort();
  frontend = await kvasir(
    ["frontend", ...common, "--http-host", "127.0.0.1", "--http-port", String(port)],
    /frontend ready/,
    env,
  );
  baseUrl = `http://127.0.0.1:${port}`;
  await waitForInstances(
    baseUrl,
    workers.map((w) => w.instanceId),
  );
}, 45_000);

afterAll(async () => {
  await stopAll([frontend, ...workers.map((w) => w.process)]);
  await watcher?.close();
  await Promise.all([etcd?.stop(), nats?.stop()]);
});

describe("kvasir frontend over etcd discovery", () => {
  it("lists the model and serves chat and completions on both workers", async () => {
    expect(await modelIds(baseUrl)).toContain(MODEL);
    const cards = await watcher.list(`v1/mdc/${NAMESPACE}/`);
    expect(cards).toHaveLength(2);
    for (const card of cards) expect(card.value).toMatchObject({ name: MODEL, kvCacheBlockSize: 64 });

    const served = new Set<string>();
    for (let i = 0; i < 4; i++) {
      served.add(expectServed(await chat(baseUrl, `chat ${i}`)));
      served.add(expectServed(await complete(baseUrl, `prompt ${i}`)));
    }
    expect([...served].sort()).toEqual(workers.map((w) => w.instanceId).sort());
  });

  it("drops a SIGKILLed worker within its lease TTL while requests keep succeeding on the other", async () => {
    const [victim, survivor] = workers;
    if (!victim || !survivor) throw new Error("two workers expected");
    const victimKey = `v1/instances/${NAMESPACE}/backend/generate/${victim.instanceId}`;
    expect(instanceEvents).toContainEqual(expect.objectContaining({ type: "put", key: victimKey }));

    victim.process.kill("SIGKILL");
    const killedAt = Date.now();
    expect((await victim.process.exited).signal).toBe("SIGKILL");

    // Until the lease expires the frontend still sees the dead worker; requests routed to it must move to the
    // survivor rather than fail.
    let requests = 0;
    const deadline = killedAt + TTL_SECONDS * 1000 + REMOVAL_SLACK_MS;
    for (;;) {
      const instances = await instancesOf(baseUrl);
      if (!instances.includes(victim.instanceId)) {
        expect(instances).toEqual([survivor.instanceId]);
        break;
      }
      expect(Date.now(), `worker still on /health ${Date.now() - killedAt} ms after SIGKILL`).toBeLessThan(
        deadline,
      );
      const result =
        requests % 2 === 0 ? await chat(baseUrl, `during ${requests}`) : await complete(baseUrl, "x");
      expect(expectServed(result)).toBe(survivor.instanceId);
      requests++;
    }
    // The lease outlived the process by up to its TTL, so some requests did meet the dead worker's entry.
    expect(requests).toBeGreaterThan(0);
    // etcd deleted the key itself (lease expiry), and a prefix watcher saw it.
    await waitFor(() => instanceEvents.some((e) => e.type === "delete" && e.key === victimKey), {
      timeoutMs: 1000,
      message: "the watcher sees the expired instance deleted",
    });
    expect(await watcher.list(`v1/instances/${NAMESPACE}/backend/`)).toHaveLength(1);

    for (let i = 0; i < 3; i++) {
      expect(expectServed(await chat(baseUrl, `after ${i}`))).toBe(survivor.instanceId);
      expect(expectServed(await complete(baseUrl, `after ${i}`))).toBe(survivor.instanceId);
    }
    expect(await modelIds(baseUrl)).toContain(MODEL);
  });
});
