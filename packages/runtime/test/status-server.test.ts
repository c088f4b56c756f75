import { afterEach, describe, expect, it } from "vitest";
import { type StatusServer, startStatusServer } from "../src/status-server.js";

let server: StatusServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

describe("status server", () => {
  it("answers /live, /health by readiness, /metrics, and 404 otherwise", async () => {
    let ready = true;
    server = await startStatusServer({
      port: 0,
      health: () => ({ ready, instances: 2 }),
      metrics: async () => "dynamo_component_requests_total 3\n",
    });
    expect((await fetch(`${server.url}/live`)).status).toBe(200);
    const healthy = await fetch(`${server.url}/health`);
    expect(healthy.status).toBe(200);
    expect(await healthy.json()).toEqual({ status: "ready", ready: true, instances: 2 });
    ready = false;
    expect((await fetch(`${server.url}/health`)).status).toBe(503);
    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.headers.get("content-type")).toContain("text/plain");
    expect(await metrics.text()).toContain("dynamo_component_requests_total 3");
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
  });
});
