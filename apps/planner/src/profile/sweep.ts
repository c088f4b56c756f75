// `kvasir profile`'s measurements over an OpenAI-compatible endpoint (a frontend, or `kvasir serve`): prompts of
// random token ids (no prefix-cache hits), TTFT per prompt length one at a time, then ITL at each concurrency and
// context length from streamed chunk times.
import { randomInt } from "node:crypto";
import type { DecodePoint, PrefillPoint } from "./table.js";

export interface SweepOptions {
  url: string;
  model: string;
  /** Prompt lengths of the prefill sweep. */
  isl: number[];
  /** Prompt lengths of the decode sweep (the context columns). */
  decodeIsl: number[];
  concurrency: number[];
  /** Output tokens of each decode request. */
  osl: number;
  /** Repeats of each prefill point. */
  repeats: number;
  timeoutMs?: number;
  log?: { info(message: string, fields?: Record<string, unknown>): void };
}

const promptOf = (isl: number) => Array.from({ length: isl }, () => randomInt(1000, 30000));

async function post(options: SweepOptions, body: object): Promise<Response> {
  const res = await fetch(
    new URL("v1/completions", options.url.endsWith("/") ? options.url : `${options.url}/`),
    {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: options.model, ...body }),
      signal: AbortSignal.timeout(options.timeoutMs ?? 120_000),
    },
  );
  if (!res.ok) throw new Error(`POST /v1/completions: ${res.status} ${(await res.text()).slice(0, 300)}`);
  return res;
}

/** Time to the first streamed token (ms) of one prompt. */
export async function measureTtft(options: SweepOptions, isl: number): Promise<number> {
  const started = performance.now();
  const res = await post(options, { prompt: promptOf(isl), max_tokens: 1, stream: true });
  const reader = res.body?.getReader();
  if (!reader) throw new Error("no response body");
  let first: number | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (first === undefined && new TextDecoder().decode(value).includes('"text"')) first = performance.now();
  }
  return (first ?? performance.now()) - started;
}

/** Mean inter-token latency (ms) of one streamed request: first to last token over the tokens between. */
export async function measureItl(options: SweepOptions, isl: number): Promise<number> {
  const res = await post(options, {
    prompt: promptOf(isl),
    max_tokens: options.osl,
    stream: true,
    stream_options: { include_usage: true },
  });
  const reader = res.body?.getReader();
  if (!reader) throw new Error("no response body");
  const decoder = new TextDecoder();
  let buffered = "";
  let first: number | undefined;
  let last = 0;
  let chunks = 0;
  let tokens: number | undefined;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const now = performance.now();
    buffered += decoder.decode(value, { stream: true });
    const events = buffered.split("\n\n");
    buffered = events.pop() ?? "";
    for (const event of events) {
      const data = event.replace(/^data: ?/, "").trim();
      if (!data || data === "[DONE]") continue;
      const parsed: unknown = JSON.parse(data);
      if (typeof parsed !== "object" || parsed === null) continue;
      const usage = "usage" in parsed ? parsed.usage : undefined;
      if (typeof usage === "object" && usage !== null && "completion_tokens" in usage) {
        tokens = Number(usage.completion_tokens);
      }
      const choices = "choices" in parsed && Array.isArray(parsed.choices) ? parsed.choices : [];
      if (choices.length > 0) {
        first ??= now;
        last = now;
        chunks++;
      }
    }
  }
  const n = tokens ?? chunks;
  if (first === undefined || n < 2) throw new Error(`decode request streamed ${n} tokens; need at least 2`);
  return (last - first) / (n - 1);
}

export interface SweepResult {
  prefill: PrefillPoint[];
  decode: DecodePoint[];
}

/** Runs the whole sweep, logging a line per point with its progress. */
export async function sweep(options: SweepOptions): Promise<SweepResult> {
  const total = options.isl.length + options.decodeIsl.length * options.concurrency.length;
  let done = 0;
  // The first requests pay for loading the tokenizer and warming the path; they are not the engine.
  for (let i = 0; i < 2; i++) await measureTtft(options, options.isl[0] ?? 16);
  options.log?.info("profile warm-up done", { total });
  const prefill: PrefillPoint[] = [];
  for (const isl of options.isl) {
    const samples: number[] = [];
    for (let r = 0; r < options.repeats; r++) samples.push(await measureTtft(options, isl));
    samples.sort((a, b) => a - b);
    const mid = samples.length / 2;
    const ttftMs =
      samples.length % 2 === 1
        ? (samples[Math.floor(mid)] ?? 0)
        : ((samples[mid - 1] ?? 0) + (samples[mid] ?? 0)) / 2;
    prefill.push({ isl, ttftMs });
    options.log?.info("profile point", {
      phase: "prefill",
      isl,
      ttft_ms: Number(ttftMs.toFixed(2)),
      done: ++done,
      total,
    });
  }
  const decode: DecodePoint[] = [];
  for (const isl of options.decodeIsl) {
    for (const concurrency of options.concurrency) {
      const itls = await Promise.all(Array.from({ length: concurrency }, () => measureItl(options, isl)));
      const itlMs = itls.reduce((a, b) => a + b, 0) / itls.length;
      const contextLength = isl + options.osl / 2;
      decode.push({ contextLength, activeKvTokens: concurrency * contextLength, itlMs });
      options.log?.info("profile point", {
        phase: "decode",
        isl,
        concurrency,
        itl_ms: Number(itlMs.toFixed(2)),
        done: ++done,
        total,
      });
    }
  }
  return { prefill, decode };
}
