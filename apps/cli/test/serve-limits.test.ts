// Timeouts against `kvasir serve` at the mocker's real speed: 504 before the answer, an error event mid-stream.
import { parseFlags } from "@kvasir/runtime";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type Serving, serveCommand, start } from "../src/serve.js";

let serving: Serving;

beforeAll(async () => {
  const argv = ["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", "serve-limits-test"];
  argv.push("--workers", "1", "--request-timeout", "0.5");
  serving = await start(serveCommand.toConfig(parseFlags(serveCommand.flags, argv, {})));
});

afterAll(async () => {
  await serving?.stop();
});

const chat = (extra: Record<string, unknown>) =>
  fetch(`${serving.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "Qwen/Qwen3-0.6B",
      messages: [{ role: "user", content: "Write a long essay" }],
      ignore_eos: true,
      ...extra,
    }),
  });

it("answers 504 in OpenAI's shape when a non-streamed request outlives --request-timeout", async () => {
  const res = await chat({ max_tokens: 20_000 });
  expect(res.status).toBe(504);
  const body = (await res.json()) as { error: { type: string; code: string } };
  expect(body.error.code).toBe("request_timeout");
});

it("ends a stream that outlives --request-timeout with an error event, and keeps serving", async () => {
  const res = await chat({ max_tokens: 20_000, stream: true });
  expect(res.status).toBe(200);
  const events = (await res.text()).split("\n\n").filter((e) => e.startsWith("data: "));
  const errors = events.filter((e) => e.includes('"error"'));
  expect(errors).toHaveLength(1);
  expect(errors[0]).toContain("request_timeout");
  const quick = await chat({ max_tokens: 2 });
  expect(quick.status).toBe(200);
});
