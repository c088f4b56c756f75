import type { IncomingMessage } from "node:http";
import type { Context, MiddlewareHandler } from "hono";
import { badRequest, bodyTimedOut, bodyTooLarge, type HttpError } from "./errors.js";
import type { AppEnv } from "./request-scope.js";

/** Deepest JSON nesting accepted: serde_json's limit (Dynamo's frontend parses with it). */
export const MAX_JSON_DEPTH = 128;

/**
 * Bytes past the limit still read (and dropped) so that a client still sending its body can read the 413 rather
 * than get a reset; beyond this the connection is closed.
 */
export const DRAIN_BYTES = 64 * 1024 * 1024;

export interface BodyReadOptions {
  maxBytes: number;
  /** Time from the request's headers to the body's last byte. */
  timeoutMs: number;
  /** The refusal in the API's shape for this path. */
  errorBody(path: string, failure: HttpError): object;
}

type ReadOutcome =
  | { kind: "ok"; bytes: Uint8Array }
  | { kind: "too_large" }
  | { kind: "timeout" }
  | { kind: "aborted" };

// Bodies read by the middleware, for the handler; keyed by the request so nothing outlives it.
const bodies = new WeakMap<Request, Uint8Array>();

/**
 * Reads the request body before the handler runs, within `maxBytes` (413) and `timeoutMs` (408). A body over the
 * limit is read on to its end (up to DRAIN_BYTES more, within the timeout) before the 413 is sent, so clients
 * that send it whole without `Expect: 100-continue` get the answer and not a reset.
 */
export function readBody(options: BodyReadOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    // A refused request's connection is closed after the answer: what is left of its body (if anything) cannot be
    // skipped on a kept-alive connection, and a client that sent too much or too slowly is not kept.
    const refuse = (failure: HttpError) => {
      const res = c.json(options.errorBody(c.req.path, failure), failure.status);
      res.headers.set("connection", "close");
      return res;
    };
    const declared = Number(c.req.header("content-length"));
    if (declared > options.maxBytes + DRAIN_BYTES) return refuse(bodyTooLarge(options.maxBytes));
    const deadline = Date.now() + options.timeoutMs;
    // Under @hono/node-server the body is read from Node's request itself: going through `c.req.raw.body` builds
    // a fetch Request and two web streams around it per request (a measurable part of a request's CPU).
    const incoming = c.env?.incoming;
    const outcome = incoming
      ? await readIncoming(incoming, options.maxBytes, deadline)
      : await readLimited(c.req.raw.body, options.maxBytes, deadline);
    switch (outcome.kind) {
      case "ok":
        bodies.set(c.req.raw, outcome.bytes);
        return next();
      case "too_large":
        return refuse(bodyTooLarge(options.maxBytes));
      case "timeout":
        return refuse(bodyTimedOut(options.timeoutMs / 1000));
      case "aborted":
        return refuse(badRequest("The request body could not be read."));
    }
  };
}

async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
  deadline: number,
): Promise<ReadOutcome> {
  if (!body) return { kind: "ok", bytes: new Uint8Array(0) };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), Math.max(0, deadline - Date.now()));
  });
  try {
    for (;;) {
      const step = await Promise.race([reader.read(), expired]);
      if (step === "timeout") {
        reader.cancel().catch(() => {});
        return total > maxBytes ? { kind: "too_large" } : { kind: "timeout" };
      }
      if (step.done) break;
      total += step.value.byteLength;
      if (total <= maxBytes) chunks.push(step.value);
      else if (total > maxBytes + DRAIN_BYTES) {
        reader.cancel().catch(() => {});
        return { kind: "too_large" };
      }
    }
  } catch {
    return { kind: "aborted" };
  } finally {
    clearTimeout(timer);
  }
  if (total > maxBytes) return { kind: "too_large" };
  return { kind: "ok", bytes: concat(chunks, total) };
}

/** readLimited for Node's request stream: the same outcomes, without web streams. */
function readIncoming(incoming: IncomingMessage, maxBytes: number, deadline: number): Promise<ReadOutcome> {
  if (incoming.readableEnded) return Promise.resolve({ kind: "ok", bytes: new Uint8Array(0) });
  // Gone before the handler ran: its "close" has been and gone.
  if (incoming.destroyed) return Promise.resolve({ kind: "aborted" });
  return new Promise((resolve) => {
    const chunks: Uint8Array[] = [];
    let total = 0;
    const finish = (outcome: ReadOutcome) => {
      clearTimeout(timer);
      incoming.off("data", onData);
      incoming.off("end", onEnd);
      incoming.off("error", onAborted);
      incoming.off("close", onAborted);
      // Left paused: what is unread stays unread, and the refusal closes the connection.
      if (outcome.kind !== "ok") incoming.pause();
      resolve(outcome);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.byteLength;
      if (total <= maxBytes) chunks.push(chunk);
      else if (total > maxBytes + DRAIN_BYTES) finish({ kind: "too_large" });
    };
    const onEnd = () =>
      finish(total > maxBytes ? { kind: "too_large" } : { kind: "ok", bytes: concat(chunks, total) });
    // "close" before "end" is a client that left mid-body (an error comes with a "close" too).
    const onAborted = () => finish({ kind: "aborted" });
    const timer = setTimeout(
      () => finish(total > maxBytes ? { kind: "too_large" } : { kind: "timeout" }),
      Math.max(0, deadline - Date.now()),
    );
    incoming.on("data", onData);
    incoming.once("end", onEnd);
    incoming.once("error", onAborted);
    incoming.once("close", onAborted);
  });
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1 && chunks[0]) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The request body as JSON: valid UTF-8, nested at most MAX_JSON_DEPTH deep (checked before anything recurses
 * into it), and parseable; otherwise a 400. Takes the body `readBody` read, or reads it when there is none.
 */
export async function jsonBody(c: Context<AppEnv>): Promise<unknown> {
  const bytes = bodies.get(c.req.raw) ?? new Uint8Array(await c.req.arrayBuffer());
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw badRequest("The request body is not valid UTF-8.");
  }
  if (nestingExceeds(text, MAX_JSON_DEPTH)) {
    throw badRequest(`The request body nests JSON deeper than ${MAX_JSON_DEPTH} levels.`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest("The request body is not valid JSON.");
  }
}

/** Whether `text`'s arrays and objects nest deeper than `max`, skipping brackets inside strings. Iterative. */
export function nestingExceeds(text: string, max: number): boolean {
  // Nesting cannot exceed the count of opening brackets: counting them with indexOf (native) settles nearly every
  // body in a few µs, where the scan below takes ~0.5 ms for a 50 KB prompt of token ids.
  const arrays = countOf(text, "[", max);
  if (arrays <= max && arrays + countOf(text, "{", max - arrays) <= max) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (inString) {
      if (ch === 0x5c)
        i++; // backslash: the next character is escaped
      else if (ch === 0x22) inString = false;
    } else if (ch === 0x22) inString = true;
    else if (ch === 0x5b || ch === 0x7b) {
      if (++depth > max) return true;
    } else if (ch === 0x5d || ch === 0x7d) depth--;
  }
  return false;
}

/** How many times `ch` occurs in `text`, counting no further than `limit + 1`. */
function countOf(text: string, ch: string, limit: number): number {
  let count = 0;
  for (let i = text.indexOf(ch); i >= 0 && count <= limit; i = text.indexOf(ch, i + 1)) count++;
  return count;
}
