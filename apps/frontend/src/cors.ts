import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import type { AppEnv } from "./request-scope.js";

/** Response headers a browser client may read: the request id (OpenAI's and Anthropic's names). */
const EXPOSED = ["x-request-id", "request-id"];

/**
 * CORS for `--cors-allowed-origins` (off when empty): answers preflights (any method, the headers the browser
 * asks for) and marks responses readable by allowed origins; `*` allows every origin. Streams are written to the
 * socket past hono's response, so the same headers also go on the Node response.
 */
export function corsMiddleware(origins: readonly string[]): MiddlewareHandler<AppEnv> | undefined {
  if (origins.length === 0) return undefined;
  const any = origins.includes("*");
  const allowed = (origin: string) => (any ? "*" : origins.includes(origin) ? origin : null);
  const handler = cors({
    origin: (origin) => allowed(origin),
    allowMethods: ["GET", "POST", "DELETE", "OPTIONS"],
    exposeHeaders: EXPOSED,
    maxAge: 600,
  });
  return async (c, next) => {
    const origin = allowed(c.req.header("origin") ?? "");
    const outgoing = c.env?.outgoing;
    if (origin && outgoing && c.req.method !== "OPTIONS") {
      outgoing.setHeader("access-control-allow-origin", origin);
      outgoing.setHeader("access-control-expose-headers", EXPOSED.join(","));
      if (!any) outgoing.setHeader("vary", "Origin");
    }
    return handler(c, next);
  };
}
