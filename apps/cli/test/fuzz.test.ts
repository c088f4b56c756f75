// A bounded fuzz of the generation API against `kvasir serve` in this process (mocker workers): 2,000 mutated
// bodies per endpoint with a fixed seed, none answered 5xx or left hanging, every error in the API's shape, and
// the service still serving afterwards. `pnpm fuzz` runs the same with 20,000 per endpoint.
import { afterAll, beforeAll, expect, it } from "vitest";
import type { Serving } from "../src/serve.js";
import { ENDPOINTS, normalBody } from "./fuzz-bodies.js";
import { formatSummary, runFuzz, startFuzzServe } from "./fuzz-run.js";

const PER_ENDPOINT = Number(process.env.KVASIR_FUZZ_PER_ENDPOINT ?? 2_000);
const SEED = 17;

let serving: Serving;

beforeAll(async () => {
  serving = await startFuzzServe("fuzz-test");
});

afterAll(async () => {
  await serving?.stop();
});

it(`answers ${PER_ENDPOINT} mutated bodies per endpoint without a 5xx, a hang or a misshapen error`, async () => {
  const summary = await runFuzz({
    url: serving.url,
    seed: SEED,
    perEndpoint: PER_ENDPOINT,
    concurrency: 8,
    timeoutMs: 15_000,
  });
  console.log(`fuzz: ${summary.tried} bodies in ${summary.seconds.toFixed(1)} s\n${formatSummary(summary)}`);
  const problems = summary.problems
    .slice(0, 10)
    .map((p) => `${p.endpoint} #${p.index} ${p.mutations}: ${p.problem}`);
  expect(problems).toEqual([]);
  expect(summary.tried).toBe(PER_ENDPOINT * ENDPOINTS.length);
  for (const endpoint of ENDPOINTS) {
    const res = await fetch(`${serving.url}${endpoint}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: normalBody(endpoint),
    });
    expect(res.status).toBe(200);
  }
}, 120_000);
