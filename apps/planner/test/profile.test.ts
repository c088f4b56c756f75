// `kvasir profile` against `kvasir serve` with a mocker whose timings come from a known perf profile: the sweep
// recovers that profile's shape (TTFT growing with the prompt, ITL with the load), and what it writes is a
// --perf-profile a mocker worker starts with.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parsePerfProfile } from "@kvasir/protocol";
import { freePort, type NodeProcess, spawnNode } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const cli = fileURLToPath(new URL("../../cli/src/main.ts", import.meta.url));

/** The engine being profiled: prefill 2 ms at 64 tokens to 300 ms at 2048; decode 10 ms alone to 80 ms at 4096 KV. */
const ENGINE = {
  prefill_isl: [64, 2048],
  prefill_ttft_ms: [2, 300],
  decode_active_kv_tokens: [64, 4096],
  decode_context_length: [64, 2048],
  decode_itl: [
    [10, 10],
    [80, 80],
  ],
};

let dir: string;
let serve: NodeProcess;
let url: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "kvasir-profile-"));
  writeFileSync(join(dir, "engine.json"), JSON.stringify(ENGINE));
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  serve = await spawnNode(
    cli,
    [
      "serve",
      "--workers",
      "1",
      "--http-host",
      "127.0.0.1",
      "--http-port",
      String(port),
      "--perf-profile",
      join(dir, "engine.json"),
    ],
    { readyLine: /"serving"/, readyTimeoutMs: 30_000 },
  );
}, 40_000);

afterAll(async () => {
  serve?.kill("SIGTERM");
  await serve?.exited;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("kvasir profile", () => {
  it("sweeps prompt lengths and concurrency and writes the profile the mocker reads", async () => {
    const output = join(dir, "measured.json");
    const profile = await spawnNode(cli, [
      "profile",
      "--url",
      url,
      "--isl",
      "64,2048",
      "--decode-isl",
      "128",
      "--concurrency",
      "1",
      "16",
      "--osl",
      "8",
      "--repeats",
      "2",
      "--output",
      output,
    ]);
    const { code } = await profile.exited;
    expect(code, profile.stderr.join("\n")).toBe(0);
    const progress = profile.stderr.filter((l) => l.includes('"profile point"'));
    expect(progress).toHaveLength(4);
    expect(progress.at(-1)).toContain('"done":4,"total":4');

    const table = parsePerfProfile(JSON.parse(readFileSync(output, "utf8")));
    expect(table.prefillTokens).toEqual([64, 2048]);
    expect(table.decodeContextLength).toEqual([132]);
    expect(table.decodeKvTokens).toEqual([132, 16 * 132]);
    // The engine's 298 ms between the two prompt lengths shows through the serving overhead.
    const [short = 0, long = 0] = table.prefillMs;
    expect(long - short).toBeGreaterThan(150);
    // Sixteen sequences decode slower than one.
    const [alone = [0], busy = [0]] = table.decodeMs;
    expect(busy[0]).toBeGreaterThan(alone[0] ?? 0);

    // What it wrote is a --perf-profile a mocker worker starts with.
    const worker = await spawnNode(cli, ["worker", "--backend", "mocker", "--perf-profile", output], {
      readyLine: /worker ready/,
      readyTimeoutMs: 30_000,
    });
    worker.kill("SIGTERM");
    expect((await worker.exited).code).toBe(0);
  }, 60_000);
});
