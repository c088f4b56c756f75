import { describe, expect, it } from "vitest";
import { DEFAULT_NAMESPACE, type RuntimeConfig } from "../config.js";
import { MemoryDiscovery } from "../discovery/memory.js";
import { MemoryEventPlane } from "../event-plane/memory.js";
import { ComponentHost, startComponent } from "./component-host.js";

const runtime: RuntimeConfig = {
  namespace: DEFAULT_NAMESPACE,
  discovery: { backend: "memory" },
  eventPlane: { backend: "memory" },
  logLevel: "error",
};

function recordingLog() {
  const lines: string[] = [];
  const write = (message: string) => lines.push(message);
  return { lines, log: { info: write, warn: write, error: write } };
}

describe("ComponentHost", () => {
  it("runs stop actions in reverse order of start, each once, telemetry last", async () => {
    const order: string[] = [];
    const { log } = recordingLog();
    const discovery = new MemoryDiscovery();
    const host = await ComponentHost.open({
      component: "test",
      runtime,
      log,
      flush: async () => {
        order.push("flush");
      },
      deps: { planes: { discovery, events: new MemoryEventPlane() }, instanceId: 7n },
    });
    host.onStop("a", () => order.push("a"));
    await host.registerInstance("generate", {
      address: "http://x:1",
      transport: "connect-h2c",
      metadata: {},
    });
    host.onStop("b", () => order.push("b"));
    expect(await discovery.list("v1/instances/dynamo/test/generate/")).toHaveLength(1);
    await Promise.all([host.stop(), host.stop()]);
    expect(order).toEqual(["b", "a", "flush"]);
    expect(await discovery.list("v1/instances/dynamo/test/generate/")).toHaveLength(0);
    expect(host.draining).toBe(true);
    await discovery.close();
  });

  it("stops what started when the body fails part-way, and rethrows", async () => {
    const order: string[] = [];
    const { log } = recordingLog();
    const failure = new Error("port in use");
    await expect(
      startComponent({ component: "test", runtime, log }, async (host) => {
        host.onStop("first", () => order.push("first"));
        await host.serveStatus({ host: "127.0.0.1", port: 0, metrics: async () => "" });
        host.onStop("second", () => order.push("second"));
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect(order).toEqual(["second", "first"]);
  });

  it("keeps stopping after a failing action and reports the first failure", async () => {
    const order: string[] = [];
    const { lines, log } = recordingLog();
    const host = await ComponentHost.open({ component: "test", runtime, log });
    host.onStop("ok", () => order.push("ok"));
    host.onStop("broken", () => {
      throw new Error("boom");
    });
    await expect(host.stop()).rejects.toThrow("boom");
    expect(order).toEqual(["ok"]);
    expect(lines).toContain("stop action failed");
  });

  it("answers /health 503 once draining and registers the advertised address", async () => {
    const { log } = recordingLog();
    const host = await ComponentHost.open({
      component: "test",
      runtime,
      log,
      advertiseHost: "worker-0.example",
    });
    // Started before the work it reports on, so it is closed after that work has drained.
    const status = await host.serveStatus({
      host: "127.0.0.1",
      port: 0,
      health: () => ({ model: "m" }),
      metrics: async () => "x 1\n",
    });
    if (status === undefined) throw new Error("a port was given, so a status server runs");
    expect((await fetch(`${status.localUrl}/health`)).status).toBe(503);
    await host.registerInstance("generate", { address: status.url, transport: "connect-h2c", metadata: {} });
    let release: () => void = () => {};
    host.onStop(
      "drain",
      () =>
        new Promise<void>((resolve) => {
          release = resolve;
        }),
    );
    expect(status.url).toMatch(/^http:\/\/worker-0\.example:\d+$/);
    const ready = await fetch(`${status.localUrl}/health`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready", component: "test", model: "m" });
    const stopped = host.stop();
    const draining = await fetch(`${status.localUrl}/health`);
    expect(draining.status).toBe(503);
    release();
    await stopped;
  });
});
