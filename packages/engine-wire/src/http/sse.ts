// Server-sent events as vLLM's and SGLang's HTTP servers write them: one `data: <json>\n\n` frame per chunk and a
// final `data: [DONE]\n\n` (vLLM serving_completion.py / serve/disagg/serving.py; SGLang http_server.py generate).
// Neither engine sends `event:`, `id:` or comment lines, so a frame here is exactly one data line.

/** The sentinel both engines send as the last frame of a stream. */
export const SSE_DONE = "[DONE]";

/** One frame on the wire: `data: <payload>\n\n`. */
export function encodeSseFrame(payload: string): string {
  return `data: ${payload}\n\n`;
}

/** A JSON chunk as one frame (JSON.stringify's compact form, as pydantic's model_dump_json and orjson write). */
export function encodeSseJson(value: unknown): string {
  return encodeSseFrame(JSON.stringify(value));
}

export const SSE_DONE_FRAME = encodeSseFrame(SSE_DONE);

/**
 * Incremental SSE reader: feed it decoded text as it arrives, get back the data payloads of complete frames.
 * Accepts `\n\n` and `\r\n\r\n` separators, joins multi-line data fields with `\n` (the SSE rule) and skips
 * comments and other fields, so a proxy in between that reframes the stream does not break it.
 */
export class SseParser {
  private buffer = "";

  /** Returns the data payloads of every frame completed by `text`. */
  push(text: string): string[] {
    this.buffer += text;
    const out: string[] = [];
    for (;;) {
      const match = /\r?\n\r?\n/.exec(this.buffer);
      if (!match) break;
      const frame = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const data = frameData(frame);
      if (data !== undefined) out.push(data);
    }
    return out;
  }

  /** Whatever is left once the stream ended: a last frame without its blank line, if any. */
  flush(): string[] {
    const rest = this.buffer;
    this.buffer = "";
    const data = rest.trim() === "" ? undefined : frameData(rest);
    return data === undefined ? [] : [data];
  }
}

function frameData(frame: string): string | undefined {
  const lines: string[] = [];
  for (const line of frame.split(/\r?\n/)) {
    if (line.startsWith("data:")) lines.push(line.slice(line.startsWith("data: ") ? 6 : 5));
  }
  return lines.length === 0 ? undefined : lines.join("\n");
}

/** Parses a whole SSE body into its data payloads (tests, non-incremental readers). */
export function parseSseBody(body: string): string[] {
  const parser = new SseParser();
  return [...parser.push(body), ...parser.flush()];
}
