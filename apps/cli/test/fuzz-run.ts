// Sends fuzz bodies to a running frontend and checks every answer: no 5xx, no hang, errors in the API's shape,
// successes complete. Used by fuzz.test.ts (CI) and `pnpm fuzz`.
import { parseFlags } from "@kvasir/runtime";
import { type Serving, serveCommand, start } from "../src/serve.js";
import { ENDPOINTS, type Endpoint, fuzzBody, type Mutation } from "./fuzz-bodies.js";

export interface FuzzOptions {
  /** The frontend's base URL. */
  url: string;
  seed: number;
  perEndpoint: number;
  /** Requests in flight at once. */
  concurrency: number;
  /** Per-request limit; a request still unanswered after it is a hang. */
  timeoutMs: number;
  /** Called after each request (progress). */
  onResult?(result: FuzzResult, done: number, total: number): void;
}

export interface FuzzResult {
  endpoint: Endpoint;
  index: number;
  mutations: Mutation[];
  /** HTTP status, or "hang" / "network" when no answer came. */
  status: number | "hang" | "network";
  /** What was wrong with the answer; undefined when it was acceptable. */
  problem?: string;
  /** Time to the answer's end. */
  ms: number;
}

export interface FuzzSummary {
  seed: number;
  tried: number;
  /** endpoint -> status -> count. */
  byStatus: Map<Endpoint, Map<string, number>>;
  problems: FuzzResult[];
  seconds: number;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzSummary> {
  const jobs: { endpoint: Endpoint; index: number }[] = [];
  for (let index = 0; index < options.perEndpoint; index++) {
    for (const endpoint of ENDPOINTS) jobs.push({ endpoint, index });
  }
  const byStatus = new Map<Endpoint, Map<string, number>>(ENDPOINTS.map((e) => [e, new Map()]));
  const problems: FuzzResult[] = [];
  const started = performance.now();
  let next = 0;
  let done = 0;
  const lane = async () => {
    for (;;) {
      const job = jobs[next++];
      if (!job) return;
      const result = await fuzzOne(options, job.endpoint, job.index);
      const counts = byStatus.get(job.endpoint) as Map<string, number>;
      const key = String(result.status);
      counts.set(key, (counts.get(key) ?? 0) + 1);
      if (result.problem !== undefined) problems.push(result);
      done++;
      options.onResult?.(result, done, jobs.length);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, lane));
  return {
    seed: options.seed,
    tried: done,
    byStatus,
    problems,
    seconds: (performance.now() - started) / 1000,
  };
}

async function fuzzOne(options: FuzzOptions, endpoint: Endpoint, index: number): Promise<FuzzResult> {
  const body = fuzzBody(options.seed, endpoint, index);
  const started = performance.now();
  const result: FuzzResult = { endpoint, index, mutations: body.mutations, status: "network", ms: 0 };
  const signal = AbortSignal.timeout(options.timeoutMs);
  try {
    const res = await fetch(`${options.url}${endpoint}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body.bytes,
      signal,
    });
    result.status = res.status;
    const text = await res.text();
    const problem = checkAnswer(endpoint, res.status, res.headers.get("content-type") ?? "", text);
    if (problem !== undefined) result.problem = problem;
  } catch (error) {
    const hang = signal.aborted;
    result.status = hang ? "hang" : "network";
    result.problem = hang ? `no answer within ${options.timeoutMs} ms` : `request failed: ${String(error)}`;
  }
  result.ms = performance.now() - started;
  return result;
}

type Shape = Record<string, unknown>;
const isObject = (v: unknown): v is Shape => typeof v === "object" && v !== null && !Array.isArray(v);

/** Why an answer is unacceptable, or undefined. */
export function checkAnswer(
  endpoint: Endpoint,
  status: number,
  contentType: string,
  text: string,
): string | undefined {
  if (status >= 500) return `status ${status}: ${text.slice(0, 300)}`;
  if (status === 200 && contentType.includes("text/event-stream")) return checkStream(endpoint, text);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return `status ${status} with a body that is not JSON: ${text.slice(0, 200)}`;
  }
  if (!isObject(body)) return `status ${status} with a body that is not an object`;
  if (status === 200) {
    const expected = {
      "/v1/chat/completions": "chat.completion",
      "/v1/completions": "text_completion",
    } as const;
    if (endpoint === "/v1/messages")
      return body.type === "message" ? undefined : "a 200 that is not a message";
    return body.object === expected[endpoint] ? undefined : `a 200 that is not a ${expected[endpoint]}`;
  }
  return errorShapeProblem(endpoint, body);
}

function errorShapeProblem(endpoint: Endpoint, body: Shape): string | undefined {
  const error = body.error;
  if (!isObject(error)) return "an error without an error object";
  if (typeof error.message !== "string" || typeof error.type !== "string")
    return "an error without message and type";
  if (endpoint === "/v1/messages")
    return body.type === "error" ? undefined : 'an Anthropic error without type "error"';
  if (!("param" in error) || !("code" in error)) return "an OpenAI error without param and code";
  return undefined;
}

function checkStream(endpoint: Endpoint, text: string): string | undefined {
  if (endpoint === "/v1/messages") {
    if (text.includes("event: error")) return `a stream that ended in an error: ${text.slice(-300)}`;
    return text.includes("event: message_stop") ? undefined : "a stream without message_stop";
  }
  if (text.includes('"error":')) return `a stream that ended in an error: ${text.slice(-300)}`;
  return text.trimEnd().endsWith("data: [DONE]") ? undefined : "a stream without data: [DONE]";
}

/** The summary as a Markdown table: one row per endpoint, one column per status. */
export function formatSummary(summary: FuzzSummary): string {
  const statuses = [...new Set([...summary.byStatus.values()].flatMap((m) => [...m.keys()]))].sort();
  const header = `| endpoint | tried | ${statuses.join(" | ")} | 5xx |`;
  const rule = `|---|---:|${statuses.map(() => "---:").join("|")}|---:|`;
  const rows = [...summary.byStatus].map(([endpoint, counts]) => {
    const tried = [...counts.values()].reduce((a, b) => a + b, 0);
    const fives = [...counts].filter(([s]) => Number(s) >= 500).reduce((a, [, n]) => a + n, 0);
    return `| \`${endpoint}\` | ${tried} | ${statuses.map((s) => counts.get(s) ?? 0).join(" | ")} | ${fives} |`;
  });
  return [header, rule, ...rows].join("\n");
}

/** `kvasir serve`'s arguments for a fuzz run: KV routing, two fast mocker workers with a short context (a body that
 * drops max_tokens generates to its end), quiet logs. */
export function fuzzServeArgs(namespace: string): string[] {
  return [
    ...["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", namespace, "--log-level", "error"],
    ...["--router-mode", "kv", "--workers", "2", "--speedup-ratio", "1000", "--context-length", "384"],
  ];
}

/** Starts `kvasir serve` in this process as the fuzz runs it. */
export function startFuzzServe(namespace: string): Promise<Serving> {
  return start(serveCommand.toConfig(parseFlags(serveCommand.flags, fuzzServeArgs(namespace), {})));
}
