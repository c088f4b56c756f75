// `kvasir mocker` as a child process, and small readers of its HTTP API for the tests.
import { fileURLToPath } from "node:url";
import { type NodeProcess, spawnNode } from "@kvasir/testing";

const main = fileURLToPath(new URL("../src/main.ts", import.meta.url));

/** Starts the simulator; with `ready`, resolves once it logged that it is serving. */
export function startSimulator(args: string[], ready = true): Promise<NodeProcess> {
  return spawnNode(main, args, ready ? { readyLine: /simulated engine ready/, readyTimeoutMs: 20_000 } : {});
}

/** SIGTERM, then the exit status. */
export async function stop(child: NodeProcess): Promise<number | null> {
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  const status = await child.exited;
  clearTimeout(timer);
  return status.code;
}

/** The data payloads of an SSE body read to its end. */
export async function readSse(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((frame) => frame.startsWith("data: "))
    .map((frame) => frame.slice(6));
}

/** One gauge's value (summed over its series) from a /metrics text. */
export function gauge(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `))
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

export async function metricValue(base: string, name: string): Promise<number> {
  return gauge(await (await fetch(`${base}/metrics`)).text(), name);
}

export const post = (url: string, body: unknown, signal?: AbortSignal): Promise<Response> =>
  fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });

/** A JSON response body, typed loosely for assertions (the tests check its shape with toMatchObject). */
// biome-ignore lint/suspicious/noExplicitAny: test-side reader of arbitrary JSON
export async function body(res: Promise<Response>): Promise<any> {
  return (await res).json();
}
