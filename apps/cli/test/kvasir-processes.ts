// `kvasir worker` and `kvasir frontend` as child processes, and the frontend's HTTP API as the tests read it.
import { fileURLToPath } from "node:url";
import { formatInstanceId } from "@kvasir/runtime";
import { type NodeProcess, spawnNode, waitFor } from "@kvasir/testing";
import { expect } from "vitest";

export const MODEL = "Qwen/Qwen3-0.6B";
const cli = fileURLToPath(new URL("../src/main.ts", import.meta.url));

export interface WorkerProcess {
  readonly process: NodeProcess;
  /** As the worker logged it, the form `/health` lists. */
  readonly instanceId: string;
  /** The worker's status server (`--system-port`, serving /health and /metrics); absent without one. */
  readonly statusUrl?: string;
}

export interface Health {
  status: string;
  models: Record<string, { instances: string[] }>;
}

/** Runs `kvasir <args>` until it logs `readyLine`; rejects with its output if it exits first. */
export function kvasir(
  args: string[],
  readyLine: RegExp,
  env: Record<string, string> = {},
): Promise<NodeProcess> {
  return spawnNode(cli, args, { readyLine, env, readyTimeoutMs: 20_000 });
}

/** `kvasir worker --backend mocker <args>`, ten times faster than real time so the tests stay short. */
export async function startWorker(args: string[], env: Record<string, string> = {}): Promise<WorkerProcess> {
  const process = await kvasir(
    ["worker", "--backend", "mocker", ...args, "--speedup-ratio", "10"],
    /worker ready/,
    env,
  );
  const ready: unknown = JSON.parse(await process.waitForLine(/worker ready/));
  expect(ready).toMatchObject({ instance_id: expect.any(String) });
  const { instance_id, status_url } = ready as { instance_id: string; status_url?: string };
  return { process, instanceId: instance_id, ...(status_url ? { statusUrl: status_url } : {}) };
}

/** SIGTERM to every process still running, SIGKILL after `graceMs`; resolves once all have exited. */
export async function stopAll(
  processes: readonly (NodeProcess | undefined)[],
  graceMs = 5000,
): Promise<void> {
  await Promise.all(
    processes.map(async (child) => {
      if (!child) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await child.exited;
      clearTimeout(timer);
    }),
  );
}

export async function health(baseUrl: string): Promise<Health> {
  const res = await fetch(`${baseUrl}/health`);
  const body: unknown = await res.json();
  expect(body).toMatchObject({ status: expect.any(String), models: expect.any(Object) });
  return body as Health;
}

/** The instances `/health` lists for `model` (none when the model is not there). */
export async function instancesOf(baseUrl: string, model = MODEL): Promise<string[]> {
  return (await health(baseUrl)).models[model]?.instances ?? [];
}

/** Waits until `/health` lists exactly `expected` (in any order) for `model`. */
export async function waitForInstances(
  baseUrl: string,
  expected: readonly string[],
  { model = MODEL, timeoutMs = 15_000 } = {},
): Promise<void> {
  const want = [...expected].sort().join(",");
  await waitFor(async () => (await instancesOf(baseUrl, model).catch(() => [])).sort().join(",") === want, {
    timeoutMs,
    message: `/health lists ${model} on [${want}]`,
  });
}

export async function modelIds(baseUrl: string): Promise<string[]> {
  const res = await fetch(`${baseUrl}/v1/models`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { data: { id: string }[] };
  return body.data.map((m) => m.id);
}

export interface Completion {
  status: number;
  body: {
    choices?: { text?: string; message?: { content?: string }; finish_reason?: string }[];
    usage?: {
      completion_tokens: number;
      prompt_tokens?: number;
      prompt_tokens_details?: { cached_tokens?: number };
    };
    nvext?: { worker_id?: { prefill_worker_id?: string; decode_worker_id?: string } };
    error?: { message: string; type: string; code?: number | string | null };
  };
}

async function post(url: string, request: object, timeoutMs: number): Promise<Completion> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
    signal: AbortSignal.timeout(timeoutMs),
  });
  return { status: res.status, body: (await res.json()) as Completion["body"] };
}

/** A non-streamed chat completion of `max_tokens` tokens. */
export function chat(
  baseUrl: string,
  content: string,
  { model = MODEL, maxTokens = 4, timeoutMs = 10_000 } = {},
) {
  return post(
    `${baseUrl}/v1/chat/completions`,
    { model, messages: [{ role: "user", content }], max_tokens: maxTokens, ignore_eos: true },
    timeoutMs,
  );
}

/** A non-streamed (legacy) completion of `max_tokens` tokens; `prompt` is text or token ids. */
export function complete(
  baseUrl: string,
  prompt: string | number[],
  { model = MODEL, maxTokens = 4, timeoutMs = 10_000 } = {},
) {
  const body = { model, prompt, max_tokens: maxTokens, ignore_eos: true };
  return post(`${baseUrl}/v1/completions`, body, timeoutMs);
}

/**
 * Asserts a 200 with `maxTokens` generated tokens; returns the instance that served it, in `/health`'s hex form
 * (`nvext.worker_id` carries it as a decimal string).
 */
export function expectServed(result: Completion, maxTokens = 4): string {
  expect(result.status, JSON.stringify(result.body)).toBe(200);
  expect(result.body.usage?.completion_tokens).toBe(maxTokens);
  const id = result.body.nvext?.worker_id?.decode_worker_id;
  expect(id).toMatch(/^[0-9]+$/);
  return formatInstanceId(BigInt(id ?? "0"));
}

/**
 * Asserts a 200 with `maxTokens` generated tokens; returns the instances that prefilled and decoded it, in
 * `/health`'s hex form (the same one unless it was served disaggregated).
 */
export function expectServedBy(result: Completion, maxTokens = 4): { prefill: string; decode: string } {
  const decode = expectServed(result, maxTokens);
  const id = result.body.nvext?.worker_id?.prefill_worker_id;
  expect(id).toMatch(/^[0-9]+$/);
  return { prefill: formatInstanceId(BigInt(id ?? "0")), decode };
}

/** The Prometheus text a status server (a worker's `--system-port`, the frontend's HTTP port) serves. */
export async function scrape(baseUrl: string): Promise<string> {
  const res = await fetch(`${baseUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
  expect(res.status).toBe(200);
  return res.text();
}

/**
 * The sum of the samples of `name` whose labels include `labels`. A labelled counter has no sample before its
 * first increment, so none reads as 0.
 */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = new Map<string, string>();
    for (const [, key, value] of (match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      if (key !== undefined && value !== undefined) have.set(key, value);
    }
    if (Object.entries(labels).every(([key, value]) => have.get(key) === value)) sum += Number(match[3]);
  }
  return sum;
}

/** A streamed request's server-sent events in order: each `data:` payload parsed, `[DONE]` as the string. */
export async function streamEvents(
  baseUrl: string,
  path: string,
  body: object,
  timeoutMs = 10_000,
): Promise<unknown[]> {
  const res = await fetch(`${baseUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ...body, stream: true }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  expect(res.headers.get("content-type")).toMatch(/text\/event-stream/);
  const events: unknown[] = [];
  for (const block of text.split(/\r?\n\r?\n/)) {
    const data = block
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).trimStart())
      .join("\n");
    if (data) events.push(data === "[DONE]" ? data : JSON.parse(data));
  }
  return events;
}

// Fields whose values are part of a stream's shape rather than its content.
const SHAPE_VALUES = new Set(["object", "role", "finish_reason"]);

/** A value with every leaf replaced by its type, except the fields in SHAPE_VALUES, which keep their values. */
function shapeOf(value: unknown, key = ""): unknown {
  if (value === null || SHAPE_VALUES.has(key)) return value;
  if (Array.isArray(value)) return value.map((v) => shapeOf(v));
  if (typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, shapeOf(v, k)]),
    );
  }
  return typeof value;
}

/**
 * The shape of a stream: each event's shape, runs of equal shapes (the content deltas) collapsed into one, so two
 * streams of the same kind compare equal whatever their tokens and however the detokenizer grouped them.
 */
export function streamShape(events: readonly unknown[]): string[] {
  const shapes: string[] = [];
  for (const event of events) {
    const shape = event === "[DONE]" ? event : JSON.stringify(shapeOf(event));
    if (shapes.at(-1) !== shape) shapes.push(shape);
  }
  return shapes;
}
