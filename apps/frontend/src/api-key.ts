// `--api-key`: the HTTP API answers only requests carrying one of the keys, as vLLM's server does. OpenAI clients
// send `Authorization: Bearer <key>`; Anthropic clients send `x-api-key` on /v1/messages. /health, /live and
// /metrics are outside /v1 and stay open for probes and scrapers.
import { tokenMatches } from "@kvasir/runtime";
import type { MiddlewareHandler } from "hono";
import { isAnthropicPath } from "./anthropic/routes.js";
import type { AnthropicErrorBody, OpenAIErrorBody } from "./errors.js";

const BEARER = /^Bearer\s+(.+)$/i;

/** Middleware refusing requests without a valid key (401 in the API's own error shape); a no-op without keys. */
export function apiKeyAuth(keys: readonly string[] | undefined, anthropicApi = true): MiddlewareHandler {
  const expected = (keys ?? []).filter((key) => key !== "");
  return async (c, next) => {
    if (expected.length === 0) return next();
    const anthropic = anthropicApi && isAnthropicPath(c.req.path);
    const bearer = BEARER.exec(c.req.header("authorization") ?? "")?.[1]?.trim();
    const given = bearer ?? (anthropic ? c.req.header("x-api-key") : undefined);
    if (tokenMatches(given, expected)) return next();
    const message =
      given === undefined
        ? "No API key provided: send it as 'Authorization: Bearer <key>'."
        : "Incorrect API key provided.";
    c.header("WWW-Authenticate", 'Bearer realm="kvasir"');
    if (anthropic) {
      const body: AnthropicErrorBody = { type: "error", error: { type: "authentication_error", message } };
      return c.json(body, 401);
    }
    const body: OpenAIErrorBody = {
      error: { message, type: "invalid_request_error", param: null, code: "invalid_api_key" },
    };
    return c.json(body, 401);
  };
}
