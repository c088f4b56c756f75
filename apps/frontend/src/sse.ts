import type { ServerResponse } from "node:http";
import { RESPONSE_ALREADY_SENT } from "@hono/node-server/utils/response";

const encoder = new TextEncoder();

/** An SSE event with a name (Anthropic's `event: message_start`); plain payloads go out as data only. */
export class NamedEvent {
  constructor(
    readonly event: string,
    readonly data: unknown,
  ) {}
}

/** OpenAI's end-of-stream line, `data: [DONE]`. */
export const DONE = Symbol("sse done");

/** An event already rendered as SSE text (`data: ...\n\n`), e.g. by a `DeltaFrames`. */
export class Frame {
  constructor(readonly text: string) {}
}

/**
 * The `data:` events of one streamed response whose chunks differ only in one string field and the finish
 * reason: rendered once around a placeholder, then each chunk is the two halves around the field's JSON. The
 * text is what `JSON.stringify` gives for the whole chunk, without building and serializing an object per token.
 */
export class DeltaFrames {
  private readonly before: string;
  private readonly after: string;

  /** `chunk(marker)` builds a chunk with `marker` as the field and a null finish reason. */
  constructor(chunk: (marker: string) => unknown) {
    const marker = "\u0000delta\u0000";
    const text = frame(chunk(marker));
    const at = text.indexOf(JSON.stringify(marker));
    if (at < 0 || text.indexOf(JSON.stringify(marker), at + 1) >= 0)
      throw new Error("DeltaFrames: the chunk must hold the marker exactly once");
    this.before = text.slice(0, at);
    this.after = text.slice(at + JSON.stringify(marker).length);
  }

  /** The event of a chunk whose field is `value`. */
  delta(value: string): Frame {
    return new Frame(this.before + JSON.stringify(value) + this.after);
  }
}

function frame(value: unknown): string {
  if (value instanceof Frame) return value.text;
  if (value === DONE) return "data: [DONE]\n\n";
  if (value instanceof NamedEvent) return `event: ${value.event}\ndata: ${JSON.stringify(value.data)}\n\n`;
  return `data: ${JSON.stringify(value)}\n\n`;
}

function frames(batch: readonly unknown[]): string {
  let text = "";
  for (const event of batch) text += frame(event);
  return text;
}

const sseHeaders = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  connection: "keep-alive",
};

/**
 * Streams batches of events (one batch per engine step) as `text/event-stream`, each batch in one write, pulled
 * only as fast as the client reads so a slow client applies back-pressure all the way to the worker. When the
 * client goes away `batches.return()` runs the generator's cleanup, which cancels the worker call.
 *
 * Under Node the events go straight to the socket (`outgoing`): the headers leave with the first batch, and no
 * web stream sits in the per-token path. Without a Node response (in-process tests) a web stream carries them.
 */
export function sseResponse(
  batches: AsyncGenerator<readonly unknown[]>,
  headers: Record<string, string>,
  outgoing: ServerResponse | undefined,
): Response {
  if (!outgoing) return webStreamResponse(batches, headers);
  void writeToNode(batches, headers, outgoing);
  return RESPONSE_ALREADY_SENT;
}

/** Whether a handler's response was written to the socket directly (it carries no status or headers). */
export function sentDirectly(response: Response): boolean {
  return response === RESPONSE_ALREADY_SENT;
}

async function writeToNode(
  batches: AsyncGenerator<readonly unknown[]>,
  headers: Record<string, string>,
  res: ServerResponse,
): Promise<void> {
  const closed = new Promise<void>((resolve) => res.once("close", resolve));
  res.writeHead(200, { ...headers, ...sseHeaders });
  try {
    for await (const batch of batches) {
      if (res.destroyed) break;
      if (batch.length === 0) continue;
      if (!res.write(frames(batch))) {
        await Promise.race([new Promise((resolve) => res.once("drain", resolve)), closed]);
      }
    }
    res.end();
  } catch {
    // The generator reports failures as events; anything thrown past it leaves nothing to tell the client.
    res.destroy();
  }
}

function webStreamResponse(
  batches: AsyncGenerator<readonly unknown[]>,
  headers: Record<string, string>,
): Response {
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        const next = await batches.next();
        if (next.done) {
          controller.close();
          return;
        }
        if (next.value.length === 0) continue;
        controller.enqueue(encoder.encode(frames(next.value)));
        return;
      }
    },
    async cancel() {
      await batches.return(undefined);
    },
  });
  return new Response(body, { status: 200, headers: { ...headers, ...sseHeaders } });
}
