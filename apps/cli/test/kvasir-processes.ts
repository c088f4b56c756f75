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
  const { instance_id } = ready as { instance_id: string };
  return { process, instanceId: instance_id };
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
    usage?: { completion_tokens: number };
    nvext?: { worker_id?: { decode_worker_id?: string } };
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
    { model, messages: [{ role: "user", content }], max_tokens: maxTokens },
    timeoutMs,
  );
}

/** A non-streamed (legacy) completion of `max_tokens` tokens. */
export function complete(
  baseUrl: string,
  prompt: string,
  { model = MODEL, maxTokens = 4, timeoutMs = 10_000 } = {},
) {
  return post(`${baseUrl}/v1/completions`, { model, prompt, max_tokens: maxTokens }, timeoutMs);
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
