import type { Logger } from "@kvasir/telemetry";
import type { MiddlewareHandler } from "hono";
import { CLIENT_CLOSED } from "./errors.js";
import type { AppEnv } from "./request-scope.js";

/** What the handlers learn about a request, for its access log line. */
export interface AccessRecord {
  requestId?: string;
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  /** The client went away before the answer was complete. */
  clientClosed?: boolean;
}

// Keyed by the request, so nothing outlives it and handlers need no extra plumbing.
const records = new WeakMap<Request, AccessRecord>();

/** The access record of `request` (an empty one outside the access log, so callers need not check). */
export function accessRecord(request: Request): AccessRecord {
  let record = records.get(request);
  if (!record) {
    record = {};
    records.set(request, record);
  }
  return record;
}

// Probes and scrapes would drown the log at info; they are logged at debug.
const QUIET = new Set(["/health", "/live", "/metrics"]);

/**
 * One structured line per request once its answer has left (a stream's last byte, not the handler's return):
 * method, path, status, duration, request id, model and tokens. A client that left early is logged as such,
 * at info with status 499: it is not a server fault.
 */
export function accessLog(log: Logger): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    const record = accessRecord(c.req.raw);
    const outgoing = c.env?.outgoing;
    const write = (status: number, completed: boolean) => {
      const closed = record.clientClosed === true || !completed || status === CLIENT_CLOSED;
      const fields: Record<string, unknown> = {
        method: c.req.method,
        path: c.req.path,
        status: closed && status < 400 ? CLIENT_CLOSED : status,
        duration_ms: Math.round((performance.now() - started) * 10) / 10,
      };
      if (record.requestId) fields.request_id = record.requestId;
      if (record.model) fields.model = record.model;
      if (record.promptTokens !== undefined) fields.prompt_tokens = record.promptTokens;
      if (record.completionTokens !== undefined) fields.completion_tokens = record.completionTokens;
      if (closed) fields.client_closed = true;
      const message = closed ? "request cancelled by the client" : "request";
      if (QUIET.has(c.req.path) && !closed) log.debug(message, fields);
      else log.info(message, fields);
    };
    if (outgoing) {
      outgoing.once("close", () => write(outgoing.statusCode, outgoing.writableFinished));
      await next();
      return;
    }
    try {
      await next();
    } finally {
      write(c.res.status, true);
    }
  };
}
