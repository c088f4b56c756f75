import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { jsonBody, MAX_JSON_DEPTH, nestingExceeds, readBody } from "./body.js";
import { toHttpError } from "./errors.js";
import type { AppEnv } from "./request-scope.js";

describe("nestingExceeds", () => {
  it("counts arrays and objects, not brackets inside strings", () => {
    expect(nestingExceeds("[[[]]]", 3)).toBe(false);
    expect(nestingExceeds("[[[[]]]]", 3)).toBe(true);
    expect(nestingExceeds('{"a":{"b":[1]}}', 3)).toBe(false);
    expect(nestingExceeds('{"a":"[[[[[[","b":"\\"[[[["}', 1)).toBe(false);
    expect(nestingExceeds(`${"[".repeat(100_000)}`, MAX_JSON_DEPTH)).toBe(true);
  });

  it("counts arrays and objects together, and siblings are not nesting", () => {
    expect(nestingExceeds('[{"a":[{}]}]', 3)).toBe(true);
    expect(nestingExceeds('[{"a":[{}]}]', 4)).toBe(false);
    expect(nestingExceeds("[[],[],{},[],{}]", 2)).toBe(false);
    expect(nestingExceeds("[[],[[]],{}]", 2)).toBe(true);
  });
});

function appWith(timeoutMs: number, maxBytes = 64) {
  const app = new Hono<AppEnv>();
  app.onError((error, c) => c.json(toHttpError(error).toBody(), toHttpError(error).status));
  const errorBody = (_path: string, failure: ReturnType<typeof toHttpError>) => failure.toBody();
  app.post("/x", readBody({ maxBytes, timeoutMs, errorBody }), async (c) =>
    c.json({ got: await jsonBody(c) }),
  );
  return app;
}

const post = (app: Hono<AppEnv>, body: string | Uint8Array | ReadableStream<Uint8Array>) =>
  app.request("/x", { method: "POST", body, ...(typeof body === "string" ? {} : { duplex: "half" }) });

describe("readBody and jsonBody", () => {
  it("hands a body within the limits to the handler", async () => {
    const res = await post(appWith(1000), '{"a":[1,2]}');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ got: { a: [1, 2] } });
  });

  it("answers 413 for a body over the limit, closing the connection", async () => {
    const res = await post(appWith(1000), JSON.stringify({ a: "x".repeat(100) }));
    expect(res.status).toBe(413);
    expect(res.headers.get("connection")).toBe("close");
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("request_too_large");
  });

  it("answers 408 when the body does not end in time", async () => {
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("{"));
      },
    });
    const started = Date.now();
    const res = await post(appWith(200), stalled);
    expect(res.status).toBe(408);
    expect(Date.now() - started).toBeLessThan(2000);
    const body = (await res.json()) as { error: { code: string; type: string } };
    expect(body.error).toMatchObject({ code: "request_timeout", type: "timeout" });
  });

  it("answers 400 for invalid UTF-8, deep nesting and invalid JSON", async () => {
    const app = appWith(1000, 1024);
    const invalid = await post(app, new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x7d]));
    expect(invalid.status).toBe(400);
    expect(await invalid.text()).toContain("UTF-8");
    const deep = await post(app, `${"[".repeat(MAX_JSON_DEPTH + 1)}${"]".repeat(MAX_JSON_DEPTH + 1)}`);
    expect(deep.status).toBe(400);
    expect(await deep.text()).toContain("deeper than 128");
    const truncated = await post(app, '{"a":');
    expect(truncated.status).toBe(400);
    expect(await truncated.text()).toContain("not valid JSON");
  });
});
