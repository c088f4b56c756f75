// A real Prometheus server (Debian's `prometheus`) for the planner's tests: a generated scrape config, a free
// loopback port, a throwaway TSDB; stopped with SIGTERM.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "@kvasir/testing";

export interface PrometheusServer {
  readonly url: string;
  stop(): Promise<void>;
}

const BINARY = "/usr/bin/prometheus";

/** Starts Prometheus scraping `targets` (host:port, /metrics) every `scrapeInterval`. */
export async function startPrometheus(
  targets: string[],
  scrapeInterval = "500ms",
): Promise<PrometheusServer> {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} not found: apt-get install prometheus`);
  const dir = mkdtempSync(join(tmpdir(), "kvasir-prometheus-"));
  const config = join(dir, "prometheus.yml");
  writeFileSync(
    config,
    [
      "global:",
      `  scrape_interval: ${scrapeInterval}`,
      `  scrape_timeout: ${scrapeInterval}`,
      "scrape_configs:",
      "  - job_name: kvasir",
      "    static_configs:",
      `      - targets: [${targets.map((t) => JSON.stringify(t)).join(", ")}]`,
      "",
    ].join("\n"),
  );
  const port = await freePort();
  const output: string[] = [];
  const child: ChildProcess = spawn(
    BINARY,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  child.stdout?.on("data", (c: Buffer) => output.push(c.toString()));
  child.stderr?.on("data", (c: Buffer) => output.push(c.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true, {
      timeoutMs: 15_000,
      message: `prometheus ready on ${url}: ${output.join("").slice(-2000)}`,
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, stop };
}
