// Bad input against `kvasir serve` in this process is refused with a 4xx in the API's shape, never a 5xx, a
// crash or a held connection (issue 17, "Clean refusals").
import { connect, type Socket } from "node:net";
import { parseFlags } from "@kvasir/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Serving, serveCommand, start } from "../src/serve.js";

const MODEL = "Qwen/Qwen3-0.6B";
const MAX_BODY = 64 * 1024;

let serving: Serving;

beforeAll(async () => {
  const argv = ["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", "clean-refusals-test"];
  argv.push("--speedup-ratio", "100", "--max-body-bytes", String(MAX_BODY), "--body-read-timeout", "1");
  serving = await start(serveCommand.toConfig(parseFlags(serveCommand.flags, argv, {})));
});

afterAll(async () => {
  await serving?.stop();
});

const post = (path: string, body: string) =>
  fetch(`${serving.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body });

const chatBody = (extra: Record<string, unknown>) =>
  JSON.stringify({ model: MODEL, messages: [{ role: "user", content: "Hi" }], max_tokens: 4, ...extra });

interface OpenAIError {
  error: { message: string; type: string; param: string | null; code: string | null };
}
interface AnthropicError {
  type: "error";
  error: { type: string; message: string };
}

describe("numbers beyond their wire type", () => {
  const cases: [string, Record<string, unknown>][] = [
    ["min_tokens", { min_tokens: 2 ** 31 }],
    ["min_tokens", { min_tokens: 2 ** 32 }],
    ["top_k", { top_k: 2 ** 31 }],
    ["stop_token_ids[0]", { stop_token_ids: [2 ** 32] }],
    ["max_tokens", { max_tokens: 2 ** 32 }],
    ["seed", { seed: 2 ** 64 }],
    ["nvext.agent_hints.priority", { nvext: { agent_hints: { priority: 2 ** 31 } } }],
    ["nvext.agent_hints.priority", { nvext: { agent_hints: { priority: -(2 ** 31) - 1 } } }],
  ];
  for (const [param, extra] of cases) {
    it(`answers 400 naming ${param} for ${JSON.stringify(extra)} on /v1/chat/completions`, async () => {
      const res = await post("/v1/chat/completions", chatBody(extra));
      expect(res.status).toBe(400);
      const body = (await res.json()) as OpenAIError;
      expect(body.error.param).toBe(param);
      expect(body.error.type).toBe("invalid_request_error");
    });
  }

  it("answers 400 naming the field on /v1/completions", async () => {
    const body = JSON.stringify({ model: MODEL, prompt: "Hi", max_tokens: 4, top_k: 2 ** 31 });
    const res = await post("/v1/completions", body);
    expect(res.status).toBe(400);
    expect(((await res.json()) as OpenAIError).error.param).toBe("top_k");
  });

  it("answers 400 naming the field on /v1/messages, in Anthropic's shape", async () => {
    const res = await post(
      "/v1/messages",
      JSON.stringify({
        model: MODEL,
        max_tokens: 4,
        messages: [{ role: "user", content: "Hi" }],
        top_k: 2 ** 31,
      }),
    );
    expect(res.status).toBe(400);
    const body = (await res.json()) as AnthropicError;
    expect(body.type).toBe("error");
    expect(body.error.type).toBe("invalid_request_error");
    expect(body.error.message).toMatch(/^top_k: /);
  });

  it("still serves the largest values the wire takes", async () => {
    const res = await post(
      "/v1/chat/completions",
      chatBody({ top_k: 2 ** 31 - 1, seed: 2 ** 53 - 1, stop_token_ids: [2 ** 32 - 1], min_tokens: 2 }),
    );
    expect(res.status).toBe(200);
  });
});

describe("deep nesting", () => {
  const nested = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;
  for (const path of ["/v1/messages", "/v1/chat/completions", "/v1/completions"]) {
    it(`answers 400 for a body nested 10,000 deep on ${path}`, async () => {
      const body = `{"model":"${MODEL}","max_tokens":4,"messages":[{"role":"user","content":"Hi"}],"metadata":${nested(10_000)}}`;
      const res = await post(path, body);
      expect(res.status).toBe(400);
      const text = await res.text();
      expect(text).toMatch(/nest/);
    });
  }

  it("answers 400 for deep nesting inside a tool schema of a normal size", async () => {
    let schema = '{"type":"string"}';
    for (let i = 0; i < 200; i++) schema = `{"type":"object","properties":{"a":${schema}}}`;
    const body = `{"model":"${MODEL}","max_tokens":4,"messages":[{"role":"user","content":"Hi"}],"tools":[{"name":"t","input_schema":${schema}}]}`;
    const res = await post("/v1/messages", body);
    expect(res.status).toBe(400);
  });
});

/** Sends raw bytes and collects everything the server answers until it closes (or `waitMs` passes). */
function rawExchange(
  write: (socket: Socket) => void,
  waitMs: number,
): Promise<{ response: string; error?: string; ms: number }> {
  const { hostname, port } = new URL(serving.url);
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let response = "";
    let settled = false;
    const done = (error?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ response, ms: Date.now() - started, ...(error ? { error } : {}) });
    };
    const timer = setTimeout(() => done("timeout"), waitMs);
    socket.on("data", (chunk) => {
      response += chunk.toString("latin1");
    });
    socket.on("error", (error) => done(String(error)));
    socket.on("close", () => done());
    socket.on("connect", () => write(socket));
  });
}

describe("oversized bodies without Expect: 100-continue", () => {
  it("lets the client read the 413 while it is still sending", async () => {
    const size = 4 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const { response, error } = await rawExchange((socket) => {
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
      );
      let sent = 0;
      const pump = () => {
        while (sent < size) {
          sent += chunk.length;
          if (!socket.write(chunk)) return void socket.once("drain", pump);
        }
      };
      socket.on("error", () => {});
      pump();
    }, 10_000);
    expect(error).toBeUndefined();
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response).toContain('"code":"request_too_large"');
  });

  it("answers 413 to a chunked body that grows past the limit", async () => {
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const { response, error } = await rawExchange((socket) => {
      socket.write(
        "POST /v1/messages HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
      );
      socket.on("error", () => {});
      for (let i = 0; i < 64; i++) socket.write(`${chunk.length.toString(16)}\r\n${chunk.toString()}\r\n`);
      socket.write("0\r\n\r\n");
    }, 10_000);
    expect(error).toBeUndefined();
    expect(response).toMatch(/^HTTP\/1\.1 413 /);
    expect(response).toContain('"type":"request_too_large"');
  });
});

describe("slow bodies", () => {
  it("answers 408 in OpenAI's shape when the body is not complete within --body-read-timeout", async () => {
    const { response, error, ms } = await rawExchange((socket) => {
      socket.write(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
      );
    }, 10_000);
    expect(error).toBeUndefined();
    expect(response).toMatch(/^HTTP\/1\.1 408 /);
    expect(response).toContain('"code":"request_timeout"');
    expect(ms).toBeLessThan(5_000);
  });

  it("keeps serving normal requests after the refusals", async () => {
    const res = await post("/v1/chat/completions", chatBody({}));
    expect(res.status).toBe(200);
  });
});
