// Two hosts on one machine for the CLI tests: two network namespaces joined by a veth pair (A and B), and an HTTP
// client that runs inside A. Namespaces need root and `ip netns`; `namespacesUnavailable` says why they cannot be
// used, so a test can fall back to loopback and say so.
import { execFile, spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const cliDir = fileURLToPath(new URL("..", import.meta.url));
const run = promisify(execFile);

export interface NamespacePair {
  /** Namespace names (`ip netns`), at most 15 characters each. */
  a: string;
  b: string;
  /** Addresses of A's and B's ends of the veth pair, in one /30. */
  addressA: string;
  addressB: string;
  /** Command prefixes that run a program in A or in B. */
  inA: string[];
  inB: string[];
}

/** Names unique to this test process and `tag` (two letters, so several files can run at once). */
export function namespacePair(tag: string, subnet: string): NamespacePair {
  const a = `kv${tag}a-${process.pid}`;
  const b = `kv${tag}b-${process.pid}`;
  return {
    a,
    b,
    addressA: `${subnet}.1`,
    addressB: `${subnet}.2`,
    inA: ["ip", "netns", "exec", a],
    inB: ["ip", "netns", "exec", b],
  };
}

/** Why namespaces cannot be used here, or undefined when they can (probed by creating and deleting one). */
export function namespacesUnavailable(): string | undefined {
  if (process.env.KVASIR_TEST_LOOPBACK_ONLY) return "KVASIR_TEST_LOOPBACK_ONLY is set";
  if (process.platform !== "linux") return `the platform is ${process.platform}, not Linux`;
  const uid = process.getuid?.();
  if (uid !== 0) return `the test runs as uid ${uid}, not root`;
  const probe = `kvasir-p-${process.pid}`;
  const added = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8", timeout: 5000 });
  if (added.error) return `\`ip\` (iproute2) cannot run: ${added.error.message}`;
  if (added.status !== 0) return `\`ip netns add\` failed: ${added.stderr.trim()}`;
  spawnSync("ip", ["netns", "del", probe], { timeout: 5000 });
  return undefined;
}

function ip(...args: string[]): void {
  const result = spawnSync("ip", args, { encoding: "utf8", timeout: 5000 });
  if (result.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${result.stderr || result.error}`);
}

/** Creates both namespaces and the veth pair between them, with loopback up in each. */
export function createNamespaces(pair: NamespacePair): void {
  ip("netns", "add", pair.a);
  ip("netns", "add", pair.b);
  // Link names are limited to 15 characters too; created inside the namespaces, so the root one never holds them.
  const [linkA, linkB] = [`${pair.a.slice(0, 4)}v${process.pid}a`, `${pair.b.slice(0, 4)}v${process.pid}b`];
  ip("link", "add", linkA, "netns", pair.a, "type", "veth", "peer", "name", linkB, "netns", pair.b);
  for (const [ns, link, address] of [
    [pair.a, linkA, pair.addressA],
    [pair.b, linkB, pair.addressB],
  ] as const) {
    ip("-n", ns, "addr", "add", `${address}/30`, "dev", link);
    ip("-n", ns, "link", "set", link, "up");
    ip("-n", ns, "link", "set", "lo", "up");
  }
}

/** Deletes the namespaces (their veth ends go with them); quiet when they are already gone. */
export function deleteNamespaces(pair: NamespacePair): void {
  for (const ns of [pair.a, pair.b]) spawnSync("ip", ["netns", "del", ns], { timeout: 5000 });
}

export interface Reply {
  status: number;
  /** Parsed JSON, or the text when it is not JSON (e.g. /metrics). */
  body: unknown;
}

// HTTP requests one after another, each bounded, from wherever the script runs.
const clientScript = `
const requests = JSON.parse(process.argv[1]);
const replies = [];
for (const r of requests) {
  const res = await fetch(r.url, {
    method: r.body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: r.body === undefined ? undefined : JSON.stringify(r.body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let body = text;
  try { body = JSON.parse(text); } catch {}
  replies.push({ status: res.status, body });
}
console.log(JSON.stringify(replies));
`;

/** Sends `requests` (GET without a body, POST with one) from a process run under `prefix`; their replies. */
export async function httpFrom(
  prefix: string[],
  requests: { url: string; body?: object }[],
): Promise<Reply[]> {
  const node = [process.execPath, "--input-type=module", "-e", clientScript];
  const [command = "", ...args] = [...prefix, ...node, JSON.stringify(requests)];
  const { stdout } = await run(command, args, { cwd: cliDir, timeout: 30_000, maxBuffer: 16 * 1024 * 1024 });
  const replies: Reply[] = JSON.parse(stdout);
  return replies;
}
