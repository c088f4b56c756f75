// HTTP plumbing shared by the two engine APIs: SSE bodies that stop the request when the client goes away, and
// JSON bodies read without throwing.
import type { Context } from "hono";

/**
 * A text/event-stream response fed by `frames`. When the client disconnects (the request's signal, or the
 * stream cancelled by the server) `abort` runs, which removes the request from the engine.
 */
export function sseResponse(c: Context, frames: AsyncIterable<string>, abort: () => void): Response {
  const signal = c.req.raw.signal;
  const iterator = frames[Symbol.asyncIterator]();
  const onAbort = () => {
    abort();
    void iterator.return?.();
  };
  signal.addEventListener("abort", onAbort, { once: true });
  const encoder = new TextEncoder();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) {
          signal.removeEventListener("abort", onAbort);
          controller.close();
        } else {
          controller.enqueue(encoder.encode(next.value));
        }
      } catch (error) {
        signal.removeEventListener("abort", onAbort);
        controller.error(error);
      }
    },
    cancel() {
      signal.removeEventListener("abort", onAbort);
      onAbort();
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache" },
  });
}

/** The parsed JSON body, or an Error saying why there is none. */
export async function jsonBody(c: Context): Promise<unknown> {
  try {
    return await c.req.json();
  } catch (error) {
    return new Error(`request body is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A compact JSON response (FastAPI's JSONResponse and orjson write no spaces). */
export function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}
