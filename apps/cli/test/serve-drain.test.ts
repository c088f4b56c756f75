// Stopping `kvasir serve` lets a stream in flight finish, and refuses new requests meanwhile.
import { parseFlags } from "@kvasir/runtime";
import { expect, it } from "vitest";
import { serveCommand, start } from "../src/serve.js";

it("drains an in-flight stream on stop and refuses new connections", async () => {
  const argv = [
    "--http-host",
    "127.0.0.1",
    "--http-port",
    "0",
    "--namespace",
    "serve-drain-test",
    "--workers",
    "1",
  ];
  const serving = await start(
    serveCommand.toConfig(parseFlags(serveCommand.flags, [...argv, "--speedup-ratio", "20"], {})),
  );
  const res = await fetch(`${serving.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "Qwen/Qwen3-0.6B",
      messages: [{ role: "user", content: "Take your time" }],
      max_tokens: 200,
      ignore_eos: true,
      stream: true,
      stream_options: { include_usage: true },
    }),
  });
  expect(res.status).toBe(200);
  const reader = res.body?.getReader();
  if (!reader) throw new Error("no body");
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value);
  const stopped = serving.stop();
  await expect(fetch(`${serving.url}/live`)).rejects.toThrow();
  for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read())
    text += decoder.decode(chunk.value);
  await stopped;
  expect(text).toContain('"finish_reason":"length"');
  expect(text).toContain('"completion_tokens":200');
  expect(text.trimEnd().endsWith("data: [DONE]")).toBe(true);
});
