// The API fuzz at length: mutated bodies (20,000 per endpoint by default) against `kvasir serve` in this process,
// with a progress line and a summary by status. Exits 1 on any 5xx, hang or misshapen answer.
// Run: pnpm fuzz [--per-endpoint N] [--seed S] [--concurrency C] [--timeout-ms T]
import { parseArgs } from "node:util";
import { ENDPOINTS, normalBody } from "../apps/cli/test/fuzz-bodies.js";
import { formatSummary, runFuzz, startFuzzServe } from "../apps/cli/test/fuzz-run.js";

const { values } = parseArgs({
  options: {
    "per-endpoint": { type: "string", default: "20000" },
    seed: { type: "string", default: "17" },
    concurrency: { type: "string", default: "8" },
    "timeout-ms": { type: "string", default: "15000" },
  },
});
const count = (name: string, text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${text}`);
  return n;
};
const perEndpoint = count("per-endpoint", values["per-endpoint"]);
const seed = count("seed", values.seed);

const serving = await startFuzzServe("fuzz");
let lastLine = 0;
const summary = await runFuzz({
  url: serving.url,
  seed,
  perEndpoint,
  concurrency: Math.max(1, count("concurrency", values.concurrency)),
  timeoutMs: count("timeout-ms", values["timeout-ms"]),
  onResult(_result, done, total) {
    const now = Date.now();
    if (done < total && now - lastLine < 1000) return;
    lastLine = now;
    const line = `fuzz: ${done}/${total} (${((100 * done) / total).toFixed(0)}%)`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}${done === total ? "\n" : ""}`);
    else process.stderr.write(`${line}\n`);
  },
});
let servesAfter = true;
for (const endpoint of ENDPOINTS) {
  const res = await fetch(`${serving.url}${endpoint}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: normalBody(endpoint),
  });
  if (res.status !== 200) servesAfter = false;
}
await serving.stop();

const fives = summary.problems.filter((p) => typeof p.status === "number" && p.status >= 500).length;
const hangs = summary.problems.filter((p) => p.status === "hang").length;
console.log(`\nseed ${seed}: ${summary.tried} bodies in ${summary.seconds.toFixed(1)} s`);
console.log(formatSummary(summary));
console.log(`\n5xx: ${fives}, hangs: ${hangs}, other problems: ${summary.problems.length - fives - hangs}`);
console.log(`a normal request to each endpoint afterwards: ${servesAfter ? "served" : "FAILED"}`);
for (const p of summary.problems.slice(0, 20)) {
  console.log(`- ${p.endpoint} #${p.index} [${p.mutations.join(", ")}] ${p.status}: ${p.problem}`);
}
process.exit(summary.problems.length === 0 && servesAfter ? 0 : 1);
