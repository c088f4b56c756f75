import { createLogger } from "@kvasir/telemetry";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { accessLog, accessRecord } from "./access-log.js";
import { corsMiddleware } from "./cors.js";
import type { AppEnv } from "./request-scope.js";

function appWithCors(origins: string[]): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const cors = corsMiddleware(origins);
  if (cors) app.use("*", cors);
  app.post("/v1/chat/completions", (c) => c.json({ ok: true }));
  return app;
}

const preflight = (origin: string) => ({
  method: "OPTIONS",
  headers: {
    origin,
    "access-control-request-method": "POST",
    "access-control-request-headers": "content-type, authorization",
  },
});

describe("CORS", () => {
  it("is off without allowed origins", async () => {
    const res = await appWithCors([]).request("/v1/chat/completions", {
      method: "POST",
      headers: { origin: "https://a.example" },
    });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    expect(
      (await appWithCors([]).request("/v1/chat/completions", preflight("https://a.example"))).status,
    ).toBe(404);
  });

  it("answers an allowed origin's preflight and marks its responses", async () => {
    const app = appWithCors(["https://a.example"]);
    const pre = await app.request("/v1/chat/completions", preflight("https://a.example"));
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://a.example");
    expect(pre.headers.get("access-control-allow-methods")).toContain("POST");
    expect(pre.headers.get("access-control-allow-headers")).toBe("content-type,authorization");
    const res = await app.request("/v1/chat/completions", {
      method: "POST",
      headers: { origin: "https://a.example" },
    });
    expect(res.headers.get("access-control-allow-origin")).toBe("https://a.example");
    expect(res.headers.get("access-control-expose-headers")).toContain("x-request-id");
    expect(res.headers.get("vary")).toContain("Origin");
  });

  it("gives another origin no allow header, and * allows any", async () => {
    const other = await appWithCors(["https://a.example"]).request(
      "/v1/chat/completions",
      preflight("https://b.example"),
    );
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const any = await appWithCors(["*"]).request("/v1/chat/completions", preflight("https://b.example"));
    expect(any.headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("access log", () => {
  function logged(): { app: Hono<AppEnv>; lines: Record<string, unknown>[] } {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger(
      "frontend",
      {},
      { level: "debug", sink: (line) => lines.push(JSON.parse(line)) },
    );
    const app = new Hono<AppEnv>();
    app.use("*", accessLog(log));
    app.post("/v1/completions", (c) => {
      Object.assign(accessRecord(c.req.raw), {
        requestId: "r1",
        model: "m",
        promptTokens: 7,
        completionTokens: 3,
      });
      return c.json({ ok: true });
    });
    app.get("/health", (c) => c.json({ status: "healthy" }));
    app.get("/v1/gone", (c) => c.json({ error: "closed" }, 499 as 400));
    return { app, lines };
  }

  it("writes one structured line per request, at info, with what the handler learnt", async () => {
    const { app, lines } = logged();
    await app.request("/v1/completions", { method: "POST" });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: "info",
      msg: "request",
      method: "POST",
      path: "/v1/completions",
      status: 200,
      request_id: "r1",
      model: "m",
      prompt_tokens: 7,
      completion_tokens: 3,
      duration_ms: expect.any(Number),
    });
  });

  it("logs probes at debug and a client that left at info, as such", async () => {
    const { app, lines } = logged();
    await app.request("/health");
    await app.request("/v1/gone");
    expect(lines.map((l) => [l.level, l.msg, l.status])).toEqual([
      ["debug", "request", 200],
      ["info", "request cancelled by the client", 499],
    ]);
  });
});
