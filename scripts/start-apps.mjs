#!/usr/bin/env node
// Starts each app from its built folder (dist/apps/<app>, made by scripts/build-apps.mjs) with plain `node` on a
// fresh port and measures the time from spawn until its status server answers /live (the mocker, an engine
// stand-in, has the engines' /health instead). Prints a table and writes bench-results/app-startup.json.
// Usage: node scripts/start-apps.mjs [app ...] [--dist dist/apps] [--runs 3]
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, realpathSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = fileURLToPath(new URL("..", import.meta.url));

/** A port nobody listens on now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * How each app is started alone, on loopback and the memory planes: its arguments and the path it answers when up.
 * `port` is the status (or, for the mocker, HTTP) port; `scratch` a private directory.
 */
export function standaloneStart(app, port, scratch) {
  const status = ["--system-port", String(port)];
  switch (app) {
    case "kvasir":
      return { args: ["frontend", "--http-port", "0", ...status], path: "/live" };
    case "frontend":
      return { args: ["--http-port", "0", ...status], path: "/live" };
    case "worker":
      return { args: ["--backend", "mocker", "--port", "0", ...status], path: "/live" };
    case "router":
    case "indexer":
      return { args: ["--port", "0", ...status], path: "/live" };
    case "planner":
      return { args: ["--environment", "virtual", ...status], path: "/live" };
    case "model-express":
      return { args: ["--port", "0", "--cache-dir", join(scratch, "cache"), ...status], path: "/live" };
    case "snapshot-agent":
      return {
        args: ["--port", "0", "--storage-path", join(scratch, "checkpoints"), ...status],
        path: "/live",
      };
    case "mocker":
      return { args: ["--protocol", "vllm", "--host", "127.0.0.1", "--port", String(port)], path: "/health" };
    default:
      throw new Error(`no start-up recipe for '${app}'`);
  }
}

/**
 * Spawns `node <dir>/main.mjs <args>` and resolves once `http://127.0.0.1:<port><path>` answers 200, with the
 * milliseconds that took. The child's output is kept for the error if it exits or the timeout passes first.
 */
export async function startBuilt(dir, args, { port, path, timeoutMs = 30_000, env = {} }) {
  const started = performance.now();
  const child = spawn(process.execPath, [join(dir, "main.mjs"), ...args], {
    cwd: dir,
    env: { ...process.env, KVASIR_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (chunk) => {
    output = (output + chunk).slice(-8000);
  });
  child.stderr.on("data", (chunk) => {
    output = (output + chunk).slice(-8000);
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  let gone;
  exited.then((status) => {
    gone = status;
  });
  const url = `http://127.0.0.1:${port}${path}`;
  for (;;) {
    if (gone)
      throw new Error(
        `${args.join(" ")} exited (${JSON.stringify(gone)}) before ${url} answered:\n${output}`,
      );
    if (performance.now() - started > timeoutMs) {
      child.kill("SIGKILL");
      throw new Error(`${url} did not answer within ${timeoutMs} ms:\n${output}`);
    }
    const ok = await fetch(url).then(
      (res) => res.ok,
      () => false,
    );
    if (ok) return { child, ms: performance.now() - started, exited, output: () => output };
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit status. */
export async function stopChild(running, graceMs = 5000) {
  running.child.kill("SIGTERM");
  const timer = setTimeout(() => running.child.kill("SIGKILL"), graceMs);
  const status = await running.exited;
  clearTimeout(timer);
  return status;
}

export function folderBytes(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.size;
  return readdirSync(path).reduce((sum, name) => sum + folderBytes(join(path, name)), 0);
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { dist: { type: "string" }, runs: { type: "string" } },
  });
  const dist = values.dist ? join(process.cwd(), values.dist) : join(root, "dist/apps");
  const runs = Number(values.runs ?? 3);
  const apps = positionals.length > 0 ? positionals : readdirSync(dist).sort();
  const rows = [];
  for (const app of apps) {
    const times = [];
    for (let run = 0; run < runs; run++) {
      const scratch = mkdtempSync(join(tmpdir(), `kvasir-${app}-`));
      const port = await freePort();
      const { args, path } = standaloneStart(app, port, scratch);
      const running = await startBuilt(join(dist, app), args, { port, path });
      times.push(running.ms);
      await stopChild(running);
    }
    times.sort((a, b) => a - b);
    rows.push({
      app,
      median_ms: Math.round(times[Math.floor(times.length / 2)]),
      min_ms: Math.round(times[0]),
      folder_mb: Number((folderBytes(join(dist, app)) / 1024 / 1024).toFixed(1)),
    });
    process.stderr.write(`${app}: ${times.map((t) => Math.round(t)).join(", ")} ms\n`);
  }
  const head = ["app", "start-up median ms", "min ms", "folder MB"];
  const cells = rows.map((r) => [r.app, r.median_ms, r.min_ms, r.folder_mb]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => String(c[i]).length)));
  process.stdout.write(
    `${[head, ...cells].map((row) => row.map((c, i) => String(c).padEnd(widths[i])).join("  ")).join("\n")}\n`,
  );
  mkdirSync(join(root, "bench-results"), { recursive: true });
  writeFileSync(
    join(root, "bench-results/app-startup.json"),
    `${JSON.stringify({ node: process.version, runs, rows }, null, 2)}\n`,
  );
}
