// The disaggregation stage with real in-process prefill and decode workers over Connect's router transport.
import { Code, ConnectError } from "@connectrpc/connect";
import { FinishReason } from "@kvasir/protocol";
import { createDiscovery } from "@kvasir/runtime";
import { getTracer, InMemorySpanExporter, initTracing, shutdownTracing } from "@kvasir/telemetry";
import { ROOT_CONTEXT, trace } from "@opentelemetry/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EngineOutput, ServingRequest } from "../engine-params.js";
import type { WorkerPool } from "../worker-pool.js";
import { selectorRouter } from "../worker-router.js";
import { callWorker } from "./call-worker.js";
import { type DisaggregationOptions, disaggregate, REMOTE_DECODE_PARAMS } from "./disaggregate.js";
import { type Behaviour, InMemoryWorkers } from "./in-memory-workers.js";
import { retry } from "./retry.js";
import { route } from "./route.js";
import { type DisaggregationOutcome, pipeline, servingContext } from "./types.js";

const TRANSFER = JSON.stringify({
  do_remote_prefill: true,
  remote_engine_id: "p",
  remote_block_ids: [[0, 1]],
});

/** A prefill worker: one token, and its transfer parameters on the last output. */
const prefillOk: Behaviour = async function* () {
  yield { tokenIds: [7], finishReason: FinishReason.LENGTH, disaggParamsJson: TRANSFER };
};

/** A prefill worker that fails at once with `code`. */
const failing =
  (code: Code): Behaviour =>
  () => ({
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new ConnectError("prefill failed", code)) }),
  });

/** A decode worker: three tokens. */
const decodeOk: Behaviour = async function* () {
  yield { tokenIds: [100] };
  yield { tokenIds: [101] };
  yield { tokenIds: [102], finishReason: FinishReason.LENGTH };
};

function setup(prefill: Behaviour | undefined, options: Partial<DisaggregationOptions> = {}) {
  const all = new InMemoryWorkers(discovery);
  // The decode worker is made first, so it is worker 1 whether or not there is a prefill worker.
  const decodePool = all.pool({ d: decodeOk }, "decode");
  const prefillPool: WorkerPool = all.pool(prefill ? { p: prefill } : {}, "prefill");
  const call = callWorker(all.clientFor);
  const target = (pool: WorkerPool) => ({ pool, router: selectorRouter("round-robin", pool) });
  const prefillLeg = pipeline([retry(1), route(() => target(prefillPool))], call);
  const run = pipeline(
    [
      disaggregate({
        active: (r) => prefillPool.workers(r.model).length > 0,
        prefill: prefillLeg,
        ...options,
      }),
      route(() => target(decodePool)),
    ],
    call,
  );
  return { run, calls: all.calls };
}

const request: ServingRequest = {
  requestId: "r",
  model: "m",
  tokenIds: [1, 2, 3, 4, 5, 6, 7, 8, 9],
  params: { maxTokens: 3, minTokens: 2, stopTokenIds: [], ignoreEos: true },
  priority: 0,
  // Pins the decode worker; the prefill leg is routed by its own router.
  backendInstanceId: 1n,
};

async function collect(
  run: ReturnType<typeof setup>["run"],
  outcomes: DisaggregationOutcome[] = [],
  signal = new AbortController().signal,
) {
  const outputs: EngineOutput[] = [];
  const phases: string[] = [];
  // The request's own span, as the frontend's request scope makes one.
  const root = getTracer().startSpan("request", {}, ROOT_CONTEXT);
  const ctx = servingContext(signal, {
    trace: trace.setSpan(ROOT_CONTEXT, root),
    onDisaggregation: (outcome) => outcomes.push(outcome),
    onStage: (stage, phase) => phases.push(`${stage}:${phase}`),
  });
  try {
    for await (const output of run(request, ctx)) outputs.push(output);
  } finally {
    root.end();
  }
  return { outputs, phases };
}

const discovery = await createDiscovery({ backend: "memory" });
const spans = new InMemorySpanExporter();
beforeAll(() => {
  initTracing({ serviceName: "disaggregate-test", exporter: spans, env: {} });
});
afterAll(() => shutdownTracing());

describe("disaggregation", () => {
  it("prefills remotely with one token, then decodes with the prefill's transfer parameters", async () => {
    const { run, calls } = setup(prefillOk);
    const outcomes: DisaggregationOutcome[] = [];
    const { outputs, phases } = await collect(run, outcomes);
    expect(calls.map((c) => c.worker)).toEqual(["p", "d"]);
    const [prefill, decode] = calls.map((c) => c.request);
    expect(prefill?.stop).toMatchObject({ maxTokens: 1, minTokens: 0 });
    expect(JSON.parse(prefill?.disaggParamsJson ?? "")).toEqual(JSON.parse(REMOTE_DECODE_PARAMS));
    expect(prefill?.tokenIds).toEqual(request.tokenIds);
    // The decode leg is the client's request, with the dict passed on verbatim.
    expect(decode?.disaggParamsJson).toBe(TRANSFER);
    expect(decode?.stop).toMatchObject({ maxTokens: 3, minTokens: 2 });
    // The prefill's own token is not the client's: the decode worker's stream is.
    expect(outputs.flatMap((o) => o.tokenIds)).toEqual([100, 101, 102]);
    expect(outputs.at(-1)).toMatchObject({ worker: { instanceId: 1n }, prefillWorker: { instanceId: 2n } });
    expect(outcomes).toEqual(["remote"]);
    expect(phases).toEqual(["route:prefill", "dispatch:prefill", "route:decode", "dispatch:decode"]);
    // One trace: prefill (its route and generate beneath) and decode (its route and generate beneath).
    const finished = spans.getFinishedSpans();
    const byName = (name: string) => finished.filter((s) => s.name === name);
    expect(new Set(finished.map((s) => s.spanContext().traceId)).size).toBe(1);
    const [prefillSpan] = byName("prefill");
    const [decodeSpan] = byName("decode");
    const parentsOf = (name: string) => byName(name).map((s) => s.parentSpanContext?.spanId);
    expect(parentsOf("route").sort()).toEqual(
      [prefillSpan?.spanContext().spanId, decodeSpan?.spanContext().spanId].sort(),
    );
    expect(parentsOf("generate").sort()).toEqual(parentsOf("route").sort());
    spans.reset();
  });

  it("serves whole requests on the decode pool while no prefill worker is there", async () => {
    const { run, calls } = setup(undefined);
    const outcomes: DisaggregationOutcome[] = [];
    await collect(run, outcomes);
    expect(calls.map((c) => c.worker)).toEqual(["d"]);
    expect(calls[0]?.request.disaggParamsJson).toBe("");
    expect(outcomes).toEqual([]);
  });

  it("returns a prefill 4xx to the client", async () => {
    const { run, calls } = setup(failing(Code.InvalidArgument));
    await expect(collect(run)).rejects.toMatchObject({ code: Code.InvalidArgument });
    expect(calls.map((c) => c.worker)).toEqual(["p"]);
  });

  it("falls back to prefill on the decode worker when the prefill fails otherwise", async () => {
    const { run, calls } = setup(failing(Code.Unavailable));
    const outcomes: DisaggregationOutcome[] = [];
    const { outputs } = await collect(run, outcomes);
    expect(calls.map((c) => c.worker)).toEqual(["p", "d"]);
    expect(calls[1]?.request.disaggParamsJson).toBe("");
    expect(outputs.flatMap((o) => o.tokenIds)).toEqual([100, 101, 102]);
    expect(outcomes).toEqual(["fallback"]);
  });

  it("prefills locally when conditional disaggregation says so", async () => {
    const { run, calls } = setup(prefillOk, { prefillLocally: () => true });
    const outcomes: DisaggregationOutcome[] = [];
    await collect(run, outcomes);
    expect(calls.map((c) => c.worker)).toEqual(["d"]);
    expect(outcomes).toEqual(["local"]);
  });

  it("stops at the prefill when the client leaves, without a fallback", async () => {
    const controller = new AbortController();
    const slowPrefill: Behaviour = async function* () {
      controller.abort(new Error("client gone"));
      await new Promise((resolve) => setTimeout(resolve, 20));
      yield { tokenIds: [7], finishReason: FinishReason.LENGTH, disaggParamsJson: TRANSFER };
    };
    const { run, calls } = setup(slowPrefill);
    const outcomes: DisaggregationOutcome[] = [];
    await expect(collect(run, outcomes, controller.signal)).rejects.toThrow();
    expect(calls.map((c) => c.worker)).toEqual(["p"]);
    expect(outcomes).toEqual([]);
  });
});
