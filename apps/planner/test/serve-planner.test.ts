// `kvasir serve --planner sla`: the planner runs inside serve over its embedded stack and starts `kvasir worker`
// processes with serve's worker flags; they register through the discovery file serve moved to and take requests
// from serve's frontend, whose metrics the planner scrapes (no Prometheus); stopping serve stops them.
import { fileURLToPath } from "node:url";
import { freePort, type NodeProcess, spawnNode, waitFor } from "@kvasir/testing";
import { afterAll, describe, expect, it } from "vitest";

const cli = fileURLToPath(new URL("../../cli/src/main.ts", import.meta.url));
const MODEL = "Qwen/Qwen3-0.6B";
let serve: NodeProcess | undefined;

afterAll(async () => {
  serve?.kill("SIGKILL");
  await serve?.exited;
});

async function instances(url: string): Promise<string[]> {
  const res = await fetch(`${url}/health`).catch(() => undefined);
  const body = res && ((await res.json()) as { models?: Record<string, { instances: string[] }> });
  return body?.models?.[MODEL]?.instances ?? [];
}

describe("kvasir serve --planner", () => {
  it("starts workers that join serve's pool and serve its requests, and stops them with serve", async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    serve = await spawnNode(
      cli,
      [
        "serve",
        "--workers",
        "1",
        "--http-host",
        "127.0.0.1",
        "--http-port",
        String(port),
        "--speedup-ratio",
        "10",
        "--planner",
        "sla",
        "--ttft",
        "500",
        "--itl",
        "50",
        "--adjustment-interval",
        "1",
        // Two at least: the planner must start one worker even with no traffic.
        "--min-endpoint",
        "2",
      ],
      { readyLine: /"serving"/, readyTimeoutMs: 30_000 },
    );
    await waitFor(async () => (await instances(url)).length === 2, {
      timeoutMs: 30_000,
      message: "the planner's worker joined serve's pool",
    });
    const started = [...serve.stdout, ...serve.stderr].find((l) => l.includes('"worker started"'));
    expect(started).toBeDefined();
    const pid = (JSON.parse(started ?? "{}") as { pid?: number }).pid ?? 0;
    expect(pid).toBeGreaterThan(0);

    const served = new Set<string>();
    for (let i = 0; i < 12 && served.size < 2; i++) {
      const res = await fetch(`${url}/v1/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: MODEL, prompt: `hello ${i}`, max_tokens: 3 }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { nvext?: { worker_id?: { decode_worker_id?: string } } };
      served.add(body.nvext?.worker_id?.decode_worker_id ?? "");
    }
    expect(served.size).toBe(2);
    // With no Prometheus it scraped serve's frontend (found in discovery) and saw that traffic.
    const sawTraffic = () =>
      [...(serve?.stdout ?? []), ...(serve?.stderr ?? [])].some(
        (l) => l.includes('"planner decision"') && l.includes('"observed_ttft_ms"'),
      );
    await waitFor(async () => sawTraffic(), {
      timeoutMs: 10_000,
      message: "a decision with observed traffic",
    });

    serve.kill("SIGTERM");
    expect((await serve.exited).code).toBe(0);
    // The worker it started is gone with it.
    expect(() => process.kill(pid, 0)).toThrow();
  }, 60_000);
});
