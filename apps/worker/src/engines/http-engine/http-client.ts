// HTTP/1.1 to the engine with keep-alive (node:http, one agent per engine): JSON calls, and streamed POSTs read as
// server-sent events. node:http rather than fetch because a token relay pays per chunk, and node:http hands over
// Buffers without web-stream machinery in between.
import { Agent, request as httpRequest, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { SseParser } from "@kvasir/engine-wire";

/** The engine answered with an HTTP error status. */
export class EngineHttpError extends Error {
  override readonly name = "EngineHttpError";
  constructor(
    readonly status: number,
    readonly body: string,
    path: string,
  ) {
    super(`engine ${path}: HTTP ${status}: ${errorMessageOf(body)}`);
  }
}

/** The message of an engine's JSON error body (vLLM `{error:{message}}`, SGLang the same or `{detail}`). */
function errorMessageOf(body: string): string {
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === "object" && parsed !== null) {
      if ("error" in parsed) {
        const error = parsed.error;
        if (typeof error === "string") return error;
        if (
          typeof error === "object" &&
          error !== null &&
          "message" in error &&
          typeof error.message === "string"
        )
          return error.message;
      }
      if ("message" in parsed && typeof parsed.message === "string") return parsed.message;
      if ("detail" in parsed) return JSON.stringify(parsed.detail);
    }
  } catch {
    // Not JSON: the text itself.
  }
  return body.slice(0, 500);
}

export interface RequestOptions {
  method?: "GET" | "POST";
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export class EngineHttpClient {
  readonly url: URL;
  private readonly agent: Agent;
  private readonly request: typeof httpRequest;

  /** `defaultHeaders` go with every request (the engine's API key). */
  constructor(
    baseUrl: string,
    private readonly defaultHeaders: Record<string, string> = {},
  ) {
    this.url = new URL(baseUrl);
    const tls = this.url.protocol === "https:";
    const options = { keepAlive: true, maxSockets: 1024 };
    this.agent = tls ? new HttpsAgent(options) : new Agent(options);
    this.request = tls ? httpsRequest : httpRequest;
  }

  /** Sends a request; resolves with the response once its headers are in. */
  private send(path: string, options: RequestOptions): Promise<IncomingMessage> {
    const {
      method = options.body === undefined ? "GET" : "POST",
      body,
      headers = {},
      signal,
      timeoutMs,
    } = options;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = this.request(
        {
          protocol: this.url.protocol,
          hostname: this.url.hostname,
          port: this.url.port,
          path,
          method,
          agent: this.agent,
          headers: {
            ...(payload
              ? { "content-type": "application/json", "content-length": String(payload.length) }
              : {}),
            ...this.defaultHeaders,
            ...headers,
          },
          ...(signal ? { signal } : {}),
          ...(timeoutMs ? { timeout: timeoutMs } : {}),
        },
        resolve,
      );
      req.once("error", reject);
      req.once("timeout", () => req.destroy(new Error(`engine ${path}: no answer in ${timeoutMs} ms`)));
      req.end(payload);
    });
  }

  /** A whole response as text; throws EngineHttpError on a status >= 400. */
  async text(path: string, options: RequestOptions = {}): Promise<string> {
    const response = await this.send(path, options);
    const text = await readAll(response);
    if ((response.statusCode ?? 0) >= 400) throw new EngineHttpError(response.statusCode ?? 0, text, path);
    return text;
  }

  async json(path: string, options: RequestOptions = {}): Promise<unknown> {
    return JSON.parse(await this.text(path, options));
  }

  /** The status of a request whose body does not matter (readiness and route probes); 0 when unreachable. */
  async status(path: string, options: RequestOptions = {}): Promise<number> {
    try {
      const response = await this.send(path, options);
      response.resume();
      return response.statusCode ?? 0;
    } catch {
      return 0;
    }
  }

  /**
   * POSTs and yields the SSE data payloads of the answer, several per call when they arrive together. Leaving
   * the iteration early (or aborting `signal`) closes the connection, which is how both engines learn that the
   * client went away and abort the request.
   */
  async *events(path: string, options: RequestOptions): AsyncGenerator<string[]> {
    const response = await this.send(path, { ...options, method: "POST" });
    if ((response.statusCode ?? 0) >= 400) {
      throw new EngineHttpError(response.statusCode ?? 0, await readAll(response), path);
    }
    const parser = new SseParser();
    response.setEncoding("utf8");
    try {
      for await (const chunk of response) {
        const frames = parser.push(String(chunk));
        if (frames.length > 0) yield frames;
      }
      const rest = parser.flush();
      if (rest.length > 0) yield rest;
    } finally {
      // A stream left before its end: drop the socket rather than return it to the pool mid-response.
      if (!response.complete) response.destroy();
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

async function readAll(response: IncomingMessage): Promise<string> {
  response.setEncoding("utf8");
  let text = "";
  for await (const chunk of response) text += String(chunk);
  return text;
}
