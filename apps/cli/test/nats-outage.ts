// A 12 s NATS outage under `kvasir frontend` and two `kvasir worker` processes (discovery and event plane on
// NATS), then NATS restarted on the same port, with an empty store or with the one it had (whose discovery
// entries are older than the TTL by then, so they expire): no request gets 404 during or after, every service
// puts its entries back (a frontend started afterwards finds both workers), and each service logs the disconnect
// and the reconnect once and counts them on /metrics. One test file per variant; in one, a frontend starting
// right as NATS comes back creates the empty bucket before the running services are back.
import { connect as connectTcp } from "node:net";
import { freePort, type NatsServer, sleep, startNatsServer, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  chat,
  kvasir,
  metricSum,
  scrape,
  startWorker,
  stopAll,
  type WorkerProcess,
  waitForInstances,
} from "./kvasir-processes.js";

const OUTAGE_MS = 12_000;
const TTL_SECONDS = 3;

/**
 * Messages in the discovery bucket's stream (one per live key: the bucket keeps one per key), asked in NATS's
 * wire protocol so that asking creates nothing; undefined while the stream does not exist.
 */
function discoveryKeys(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, "127.0.0.1");
    let buffered = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("no answer from nats-server"));
    }, 2000);
    socket.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on("data", (chunk) => {
      buffered += chunk.toString();
      const json = /MSG \S+ 1 \d+\r\n(.*)\r\n/.exec(buffered)?.[1];
      if (json === undefined) return;
      clearTimeout(timer);
      socket.destroy();
      const info = JSON.parse(json) as { error?: unknown; state?: { messages: number } };
      resolve(info.error === undefined ? info.state?.messages : undefined);
    });
    socket.write(
      'CONNECT {"verbose":false,"headers":true,"no_responders":true}\r\nSUB _INBOX.outage 1\r\n' +
        "PUB $JS.API.STREAM.INFO.KV_kvasir_discovery _INBOX.outage 0\r\n\r\n",
    );
  });
}

export function describeNatsOutage({ wipe, newcomer }: { wipe: boolean; newcomer: boolean }): void {
  const namespace = `nats-outage-${wipe ? "wiped" : "kept"}${newcomer ? "-newcomer" : ""}`;
  const store = `${wipe ? "an empty store" : "its old store"}${newcomer ? " and a frontend starting at once" : ""}`;
  let nats: NatsServer | undefined;
  let workers: WorkerProcess[] = [];
  let frontend: Awaited<ReturnType<typeof kvasir>> | undefined;
  let lateFrontend: Awaited<ReturnType<typeof kvasir>> | undefined;
  let baseUrl: string;
  let statusUrl: string;
  let common: string[];

  async function startFrontend(extra: string[] = []) {
    const port = await freePort();
    const process = await kvasir(
      ["frontend", ...common, "--http-host", "127.0.0.1", "--http-port", String(port), ...extra],
      /frontend ready/,
    );
    return { process, url: `http://127.0.0.1:${port}` };
  }

  beforeAll(async () => {
    nats = await startNatsServer();
    common = ["--discovery-backend", "nats", "--nats-server", nats.url, "--namespace", namespace];
    common.push("--discovery-ttl", String(TTL_SECONDS));
    workers = await Promise.all([startWorker(common), startWorker(common)]);
    const systemPort = await freePort();
    const started = await startFrontend(["--system-port", String(systemPort)]);
    frontend = started.process;
    baseUrl = started.url;
    statusUrl = `http://127.0.0.1:${systemPort}`;
    await waitForInstances(
      baseUrl,
      workers.map((w) => w.instanceId),
    );
  }, 40_000);

  afterAll(async () => {
    await stopAll([lateFrontend, frontend, ...workers.map((w) => w.process)]);
    await nats?.stop();
  });

  describe(`a ${OUTAGE_MS / 1000} s NATS outage, NATS back with ${store}`, () => {
    it("costs no 404; the services re-register and log and count the outage", async () => {
      const server = nats;
      if (!server) throw new Error("no nats");
      const statuses: number[] = [];
      let sending = true;
      const load = (async () => {
        for (let i = 0; sending; i++) {
          const result = await chat(baseUrl, `outage ${i}`, { timeoutMs: 8000 }).catch(() => ({ status: 0 }));
          statuses.push(result.status);
          await sleep(50);
        }
      })();

      await sleep(500);
      await server.restart({ wipe, downMs: OUTAGE_MS });
      const during = statuses.length;
      const backAt = Date.now();
      // A newcomer opens discovery first, creating the bucket: old entries are gone, the running services' are
      // not back yet, and a view that trusted the bucket now would drop every worker.
      const late = newcomer ? startFrontend() : undefined;
      late?.catch(() => {});

      // Every service puts its entries back (each worker its instance and card, the frontend its instance); with
      // an empty store they create the bucket again: nothing else here creates it.
      await waitFor(async () => ((await discoveryKeys(server.port).catch(() => undefined)) ?? 0) >= 5, {
        timeoutMs: 10_000,
        message: "every service registered again",
      });
      const reregisteredMs = Date.now() - backAt;
      expect(reregisteredMs).toBeLessThan(5000);
      // A frontend started now finds both workers through the restarted server alone.
      const started = await (late ?? startFrontend());
      lateFrontend = started.process;
      await waitForInstances(
        started.url,
        workers.map((w) => w.instanceId),
        { timeoutMs: 10_000 },
      );
      expect((await chat(started.url, "after the outage")).status).toBe(200);

      // Past a full TTL and sweep after the reconnect, the first frontend still serves.
      await sleep(TTL_SECONDS * 1000 + 1000);
      sending = false;
      await load;
      const count = (status: number) => statuses.filter((s) => s === status).length;
      console.log(
        `discovery outage (nats, ${OUTAGE_MS} ms, ${store}): ${statuses.length} requests (${during} during), ` +
          `${count(200)} ok, ${count(503)} 503, ${count(404)} 404, ${count(0)} failed; ` +
          `every service registered again ${reregisteredMs} ms after NATS came back`,
      );
      expect(count(404)).toBe(0);
      expect(statuses.length).toBeGreaterThan(20);
      // The last requests, after re-registration, are all served.
      expect(statuses.slice(-10)).toEqual(Array(10).fill(200));

      // Logs go to stderr. Each service logged one disconnect and one reconnect; the workers re-registered.
      for (const process of [frontend, ...workers.map((w) => w.process)]) {
        const lines = process?.stderr ?? [];
        expect(lines.filter((line) => line.includes('"discovery disconnected"'))).toHaveLength(1);
        expect(lines.filter((line) => line.includes('"discovery reconnected"'))).toHaveLength(1);
      }
      for (const worker of workers) {
        expect(worker.process.stderr.some((line) => line.includes('"discovery entries re-registered"'))).toBe(
          true,
        );
      }
      // On the status server and on the HTTP port's /metrics alike.
      for (const url of [statusUrl, baseUrl]) {
        const metrics = await scrape(url);
        expect(metricSum(metrics, "dynamo_component_discovery_reconnects_total")).toBe(1);
        expect(metricSum(metrics, "dynamo_component_discovery_disconnects_total")).toBe(1);
        expect(metricSum(metrics, "dynamo_component_discovery_connected")).toBe(1);
      }
    }, 44_000);
  });
}
