import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import { apiKeyAuth } from "./api-key.js";

function app(keys: string[] | undefined) {
  const a = new Hono();
  a.use("/v1/*", apiKeyAuth(keys));
  a.post("/v1/chat/completions", (c) => c.json({ ok: true }));
  a.post("/v1/messages", (c) => c.json({ ok: true }));
  a.get("/health", (c) => c.json({ status: "healthy" }));
  return a;
}

describe("apiKeyAuth", () => {
  const secured = app(["k-one", "k-two"]);

  it("lets every request through without keys", async () => {
    expect((await app(undefined).request("/v1/chat/completions", { method: "POST" })).status).toBe(200);
  });

  it("accepts any of the keys as a Bearer token", async () => {
    for (const key of ["k-one", "k-two"]) {
      const res = await secured.request("/v1/chat/completions", {
        method: "POST",
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.status).toBe(200);
    }
  });

  it("refuses a missing, wrong, prefixed or x-api-key key outside /v1/messages with OpenAI's 401", async () => {
    const cases: Record<string, string>[] = [
      {},
      { authorization: "Bearer k-on" },
      { authorization: "Bearer k-one-more" },
      { authorization: "k-one" },
      { "x-api-key": "k-one" },
    ];
    for (const headers of cases) {
      const res = await secured.request("/v1/chat/completions", { method: "POST", headers });
      expect(res.status).toBe(401);
      expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
      const body = (await res.json()) as { error: { type: string; code: string } };
      expect(body.error).toMatchObject({ type: "invalid_request_error", code: "invalid_api_key" });
    }
  });

  it("takes x-api-key on /v1/messages and refuses there in Anthropic's shape", async () => {
    const ok = await secured.request("/v1/messages", { method: "POST", headers: { "x-api-key": "k-two" } });
    expect(ok.status).toBe(200);
    const no = await secured.request("/v1/messages", { method: "POST", headers: { "x-api-key": "nope" } });
    expect(no.status).toBe(401);
    expect(await no.json()).toEqual({
      type: "error",
      error: { type: "authentication_error", message: "Incorrect API key provided." },
    });
  });

  it("leaves routes outside /v1 open", async () => {
    expect((await secured.request("/health")).status).toBe(200);
  });
});
