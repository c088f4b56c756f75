// `kvasir serve` as a child process on loopback: the event loop stays free while a 7.8 MB prompt is tokenized,
// and the HTTP edges as a browser or an operator sees them (CORS, the access log, a client that leaves).
import { freePort, gibberish, type NodeProcess, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { kvasir, MODEL, metricSum, scrape, stopAll, streamEvents } from "./kvasir-processes.js";

const ORIGIN = "https://app.example";

let serve: NodeProcess | undefined;
let baseUrl = "";

beforeAll(async () => {
  const port = await freePort();
  serve = await kvasir(
    [
      "serve",
      "--workers",
      "1",
      "--namespace",
      "frontend-edges",
      "--speedup-ratio",
      "10",
      // Room for the big prompt, so it is tokenized rather than refused by the size bound.
      "--context-length",
      "1000000",
      "--cors-allowed-origins",
      ORIGIN,
      "--http-host",
      "127.0.0.1",
      "--http-port",
      String(port),
    ],
    /"serving"/,
  );
  baseUrl = `http://127.0.0.1:${port}`;
}, 30_000);

afterAll(async () => {
  await stopAll([serve]);
}, 20_000);

const poolTasks = async () => metricSum(await scrape(baseUrl), "kvasir_frontend_tokenizer_pool_tasks");

/** The frontend's structured log lines so far (stderr, one JSON object each). */
function logLines(): Record<string, unknown>[] {
  const lines: Record<string, unknown>[] = [];
  for (const line of serve?.stderr ?? []) {
    try {
      const parsed: unknown = JSON.parse(line);
      if (typeof parsed === "object" && parsed !== null) lines.push(parsed as Record<string, unknown>);
    } catch {
      // Not a log line.
    }
  }
  return lines;
}

const shortChat = (content: string) => ({
  model: MODEL,
  messages: [{ role: "user", content }],
  max_tokens: 8,
  ignore_eos: true,
});

// The same large text as a streamed chat, to vLLM's /v1/tokenize (which has no context bound), and as an Anthropic
// conversation ending in a prefill.
const bigRequests = [
  { path: "/v1/chat/completions", body: (text: string) => ({ ...shortChat(text), stream: true }) },
  { path: "/v1/tokenize", body: (text: string) => ({ model: MODEL, prompt: text }) },
  // Anthropic's assistant prefill: the rendered conversation is cut after the prefill on the thread too.
  {
    path: "/v1/messages",
    body: (text: string) => ({
      model: MODEL,
      max_tokens: 8,
      stream: true,
      messages: [
        { role: "user", content: text },
        { role: "assistant", content: "Summary:" },
      ],
    }),
  },
];

describe("a 7.8 MB prompt", () => {
  it.each(
    bigRequests,
  )("on $path is tokenized off the event loop: short streams and /health complete while it is still being tokenized", async ({
    path,
    body,
  }) => {
    const big = new AbortController();
    let bigSettled = false;
    const bigRequest = fetch(`${baseUrl}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body(gibberish(7_800_000))),
      signal: big.signal,
    })
      .then((res) => res.text())
      .catch(() => "aborted")
      .finally(() => {
        bigSettled = true;
      });
    await waitFor(async () => (await poolTasks()) >= 1, {
      timeoutMs: 15_000,
      message: "the big prompt reaches the pool",
    });

    const shorts = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        streamEvents(baseUrl, "/v1/chat/completions", shortChat(`hi ${i}`)),
      ),
    );
    const health = await fetch(`${baseUrl}/health`);

    // Everything above finished while the big prompt was still on a tokenizer thread.
    expect(await poolTasks()).toBe(1);
    expect(bigSettled).toBe(false);
    expect(health.status).toBe(200);
    for (const events of shorts) expect(events.at(-1)).toBe("[DONE]");

    // The client leaving stops its tokenizing, and is no server fault.
    big.abort();
    await bigRequest;
    await waitFor(async () => (await poolTasks()) === 0, {
      timeoutMs: 10_000,
      message: "the thread is freed",
    });
  }, 60_000);
});

describe("the HTTP edges", () => {
  it("answers an allowed origin's preflight and marks its streams readable", async () => {
    const preflight = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: {
        origin: ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,authorization",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(preflight.headers.get("access-control-allow-headers")).toBe("content-type,authorization");

    const stream = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: ORIGIN },
      body: JSON.stringify({ ...shortChat("hello"), stream: true }),
    });
    await stream.text();
    expect(stream.headers.get("content-type")).toMatch(/text\/event-stream/);
    expect(stream.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(stream.headers.get("access-control-expose-headers")).toContain("x-request-id");

    const other = await fetch(`${baseUrl}/v1/models`, { headers: { origin: "https://other.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("logs one access line per request, once its stream has ended, with the model and tokens", async () => {
    const requestId = "edges-access-1";
    const res = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify({ ...shortChat("hello"), stream: true }),
    });
    await res.text();
    await waitFor(() => logLines().some((l) => l.request_id === requestId && l.msg === "request"));
    const lines = logLines().filter((l) => l.request_id === requestId && l.msg === "request");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "info",
      method: "POST",
      path: "/v1/chat/completions",
      status: 200,
      model: MODEL,
      prompt_tokens: expect.any(Number),
      completion_tokens: 8,
      duration_ms: expect.any(Number),
    });
  });

  it("logs a client that leaves mid-stream at info, as the client's doing", async () => {
    const requestId = "edges-abort-1";
    const client = new AbortController();
    const res = await fetch(`${baseUrl}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify({ ...shortChat("hello"), max_tokens: 5000, ignore_eos: true, stream: true }),
      signal: client.signal,
    });
    const reader = res.body?.getReader();
    await reader?.read();
    client.abort();
    await waitFor(() => logLines().some((l) => l.request_id === requestId && l.client_closed === true), {
      message: "the access line of the cancelled request",
    });
    const mine = logLines().filter((l) => l.request_id === requestId);
    expect(mine.find((l) => l.client_closed === true)).toMatchObject({
      level: "info",
      msg: "request cancelled by the client",
      status: 499,
    });
    expect(mine.filter((l) => l.level === "warn" || l.level === "error")).toEqual([]);
  });
});
