// A streaming OpenAI `/v1/completions` client that times each request: TTFT, gaps between content chunks (ITL),
// and the usage the server reports, including `usage.prompt_tokens_details.cached_tokens`.
import { SseDecoder } from "./sse.js";

export interface CompletionTiming {
  ok: boolean;
  /** HTTP status, or 0 when the connection failed. */
  status: number;
  error?: string;
  /** When the request was sent (ms, performance.now clock). */
  sentAt: number;
  /** Time to the first chunk carrying text, ms. */
  ttftMs?: number;
  /** Gaps between successive text chunks, ms. */
  itlMs: number[];
  e2eMs: number;
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

interface CompletionChunk {
  choices?: { text?: string; finish_reason?: string | null }[];
  usage?: {
    prompt_tokens?: number;
    completion_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number } | null;
  } | null;
  error?: { message?: string };
}

/**
 * POSTs `body` (forced to stream with usage) to `${baseUrl}/v1/completions` and times the stream. Never throws:
 * failures come back with ok=false and the reason.
 */
export async function timedCompletion(
  baseUrl: string,
  body: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<CompletionTiming> {
  const sentAt = performance.now();
  const result: CompletionTiming = {
    ok: false,
    status: 0,
    sentAt,
    itlMs: [],
    e2eMs: 0,
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
  };
  let last: number | undefined;
  try {
    const response = await fetch(`${baseUrl}/v1/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ...body, stream: true, stream_options: { include_usage: true } }),
      ...(signal ? { signal } : {}),
    });
    result.status = response.status;
    if (!response.ok || !response.body) {
      result.error = `HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`;
      return result;
    }
    const sse = new SseDecoder();
    const decoder = new TextDecoder();
    let done = false;
    for await (const bytes of response.body) {
      const now = performance.now();
      for (const data of sse.push(decoder.decode(bytes, { stream: true }))) {
        if (data === "[DONE]") {
          done = true;
          continue;
        }
        const chunk = JSON.parse(data) as CompletionChunk;
        if (chunk.error) throw new Error(chunk.error.message ?? "error event in stream");
        if (chunk.choices?.some((c) => c.text)) {
          if (last === undefined) result.ttftMs = now - sentAt;
          else result.itlMs.push(now - last);
          last = now;
        }
        if (chunk.usage) {
          result.promptTokens = chunk.usage.prompt_tokens ?? 0;
          result.completionTokens = chunk.usage.completion_tokens ?? 0;
          result.cachedTokens = chunk.usage.prompt_tokens_details?.cached_tokens ?? 0;
        }
      }
    }
    if (!done) throw new Error("stream ended without [DONE]");
    result.ok = true;
  } catch (error) {
    result.error = error instanceof Error ? error.message : String(error);
  } finally {
    result.e2eMs = performance.now() - sentAt;
  }
  return result;
}

/** Resolves once the frontend at `url` lists `model` in `/v1/models`; rejects after `timeoutMs`. */
export async function waitForModel(url: string, model: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const response = await fetch(`${url}/v1/models`).catch(() => undefined);
    if (response?.ok) {
      const body = (await response.json()) as { data?: { id?: string }[] };
      if (body.data?.some((m) => m.id === model)) return;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`model ${model} did not appear in /v1/models within ${timeoutMs / 1000} s`);
}
