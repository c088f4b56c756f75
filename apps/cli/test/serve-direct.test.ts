// `--router-mode direct`: the worker named by nvext.backend_instance_id serves the request.
import { parseFlags } from "@kvasir/runtime";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Serving, serveCommand, start } from "../src/serve.js";

let serving: Serving;

beforeAll(async () => {
  const argv = ["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", "serve-direct-test"];
  argv.push("--router-mode", "direct", "--speedup-ratio", "100");
  serving = await start(serveCommand.toConfig(parseFlags(serveCommand.flags, argv, {})));
});

afterAll(async () => {
  await serving?.stop();
});

const complete = (nvext?: unknown) =>
  fetch(`${serving.url}/v1/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "Qwen/Qwen3-0.6B",
      prompt: "Hello",
      max_tokens: 2,
      ...(nvext ? { nvext } : {}),
    }),
  });

it("sends each request to the worker it names", async () => {
  for (const worker of [...serving.workers, ...serving.workers]) {
    const res = await complete({ backend_instance_id: worker.instanceId.toString() });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { nvext: { worker_id: { decode_worker_id: string } } };
    expect(body.nvext.worker_id.decode_worker_id).toBe(worker.instanceId.toString());
  }
});

it("refuses a request that names no worker (400) or one that is not serving (503)", async () => {
  expect((await complete()).status).toBe(400);
  expect((await complete({ backend_instance_id: "12345" })).status).toBe(503);
});
