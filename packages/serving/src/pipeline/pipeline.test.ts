// The request path's stages against real WorkerService implementations over Connect's in-process transport.
import { Code, ConnectError } from "@connectrpc/connect";
import { FinishReason } from "@kvasir/protocol";
import { createDiscovery } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import type { EngineOutput, ServingRequest } from "../engine-params.js";
import { ServingError } from "../errors.js";
import { directRouter, selectorRouter, type WorkerRouter } from "../worker-router.js";
import { callWorker } from "./call-worker.js";
import { type Behaviour, InMemoryWorkers } from "./in-memory-workers.js";
import { migrate } from "./migrate.js";
import { retry } from "./retry.js";
import { route } from "./route.js";
import { shed } from "./shed.js";
import { type MoveInfo, pipeline, type ServingContext, servingContext } from "./types.js";

/** A backend pool of in-process workers. */
const discovery = await createDiscovery({ backend: "memory" });

function workers(behaviours: Record<string, Behaviour>) {
  const all = new InMemoryWorkers(discovery);
  const pool = all.pool(behaviours);
  return { pool, calls: all.calls, clientFor: all.clientFor };
}

const request = (over: Partial<ServingRequest> = {}): ServingRequest => ({
  requestId: "r1",
  model: "m",
  tokenIds: [1, 2, 3],
  params: { maxTokens: 4, stopTokenIds: [], ignoreEos: true, minTokens: 2 },
  priority: 0,
  ...over,
});

async function collect(outputs: AsyncIterable<EngineOutput>): Promise<EngineOutput[]> {
  const all: EngineOutput[] = [];
  for await (const output of outputs) all.push(output);
  return all;
}

/** Generates `count` tokens counting up from `from`, one per step. */
const healthy = (from = 100): Behaviour =>
  async function* (request) {
    const count = request.stop?.maxTokens ?? 0;
    for (let i = 0; i < count; i++) {
      yield { tokenIds: [from + i], ...(i === count - 1 ? { finishReason: FinishReason.LENGTH } : {}) };
    }
  };

/** Fails after `after` tokens with `code`. */
const failing = (after: number, code = Code.Unavailable): Behaviour =>
  async function* () {
    for (let i = 0; i < after; i++) yield { tokenIds: [50 + i] };
    throw new ConnectError("worker died", code);
  };

function chain(setup: ReturnType<typeof workers>, router: WorkerRouter, limits = { retry: 3, migration: 3 }) {
  const target = { pool: setup.pool, router };
  return pipeline(
    [migrate(limits.migration), retry(limits.retry), route(() => target)],
    callWorker(setup.clientFor),
  );
}

function context(moves: MoveInfo[] = [], signal = new AbortController().signal): ServingContext {
  return servingContext(signal, { onMove: (info) => moves.push(info) });
}

describe("the request pipeline", () => {
  it("streams a worker's tokens with usage for the whole request", async () => {
    const setup = workers({ a: healthy() });
    const outputs = await collect(
      chain(setup, directRouter())(request({ backendInstanceId: 1n }), context()),
    );
    expect(outputs.flatMap((o) => o.tokenIds)).toEqual([100, 101, 102, 103]);
    expect(outputs.at(-1)).toMatchObject({
      finishReason: "length",
      usage: { promptTokens: 3, completionTokens: 4, cachedTokens: 4 },
      worker: { instanceId: 1n, dpRank: 0 },
    });
  });

  it("retries on another worker when one fails before the first token", async () => {
    const setup = workers({ a: failing(0), b: healthy() });
    const moves: MoveInfo[] = [];
    const router = selectorRouter("round-robin", setup.pool);
    const outputs = await collect(chain(setup, router)(request(), context(moves)));
    expect(outputs.flatMap((o) => o.tokenIds)).toEqual([100, 101, 102, 103]);
    expect(setup.calls.map((c) => c.worker)).toEqual(["a", "b"]);
    expect(moves).toMatchObject([{ kind: "retry", instanceId: 1n, generated: 0 }]);
  });

  it("marks an unreachable worker suspect, so the next request does not try it first", async () => {
    const setup = workers({ a: failing(0), b: healthy() });
    const router = selectorRouter("round-robin", setup.pool);
    await collect(chain(setup, router)(request(), context()));
    await collect(chain(setup, router)(request({ requestId: "r2" }), context()));
    expect(setup.calls.map((c) => c.worker)).toEqual(["a", "b", "b"]);
  });

  it("migrates mid-stream with the tokens so far appended to the prompt", async () => {
    const setup = workers({ a: failing(2), b: healthy(200) });
    const moves: MoveInfo[] = [];
    const outputs = await collect(
      chain(setup, selectorRouter("round-robin", setup.pool))(request(), context(moves)),
    );
    expect(outputs.flatMap((o) => o.tokenIds)).toEqual([50, 51, 200, 201]);
    const second = setup.calls[1]?.request;
    expect(second?.tokenIds).toEqual([1, 2, 3, 50, 51]);
    expect(second?.stop).toMatchObject({ maxTokens: 2, minTokens: 0 });
    expect(outputs.at(-1)?.usage).toEqual({ promptTokens: 3, completionTokens: 4, cachedTokens: 4 });
    expect(moves).toMatchObject([{ kind: "migration", instanceId: 1n, generated: 2 }]);
  });

  it("gives up after the migration limit", async () => {
    const setup = workers({ a: failing(1), b: failing(1) });
    const run = chain(setup, selectorRouter("round-robin", setup.pool), { retry: 3, migration: 0 });
    await expect(collect(run(request(), context()))).rejects.toThrow("worker died");
    expect(setup.calls).toHaveLength(1);
  });

  it("does not retry a request the worker refuses as invalid (4xx)", async () => {
    const setup = workers({ a: failing(0, Code.InvalidArgument), b: healthy() });
    const run = chain(setup, selectorRouter("round-robin", setup.pool));
    await expect(collect(run(request(), context()))).rejects.toMatchObject({ code: Code.InvalidArgument });
    expect(setup.calls).toHaveLength(1);
  });

  it("says every worker failed once all were tried", async () => {
    const setup = workers({ a: failing(0), b: failing(0) });
    const run = chain(setup, selectorRouter("round-robin", setup.pool));
    await expect(collect(run(request(), context()))).rejects.toMatchObject({ code: "worker_failed" });
    expect(setup.calls).toHaveLength(2);
  });

  it("sheds new requests while every worker is above the thresholds", async () => {
    const setup = workers({ a: healthy() });
    const target = { pool: setup.pool, router: selectorRouter("round-robin", setup.pool) };
    const run = pipeline(
      [shed(() => target, { activeDecodeBlocks: 0.5 }), route(() => target)],
      callWorker(setup.clientFor),
    );
    const loaded = (active: bigint) => ({
      workerId: 1n,
      dpRank: 0,
      activeKvBlocks: active,
      totalKvBlocks: 100n,
      numRequestsRunning: 1,
      numRequestsWaiting: 0,
      prefillTokensInFlight: 0n,
    });
    setup.pool.applyLoad(loaded(90n) as never);
    const refused = collect(run(request(), context()));
    await expect(refused).rejects.toBeInstanceOf(ServingError);
    await expect(refused).rejects.toMatchObject({ code: "overloaded", status: 503 });
    setup.pool.applyLoad(loaded(10n) as never);
    expect(await collect(run(request(), context()))).toHaveLength(4);
  });

  it("ends the worker's stream when the caller aborts, and does not retry", async () => {
    const slow: Behaviour = async function* () {
      yield { tokenIds: [1] };
      await new Promise<void>((resolve) => setTimeout(resolve, 50));
      yield { tokenIds: [2], finishReason: FinishReason.STOP };
    };
    const setup = workers({ a: slow, b: healthy() });
    const controller = new AbortController();
    const run = chain(setup, selectorRouter("round-robin", setup.pool));
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const output of run(request(), context([], controller.signal))) {
          seen.push(...output.tokenIds);
          controller.abort(new Error("client gone"));
        }
      })(),
    ).rejects.toThrow();
    expect(seen).toEqual([1]);
    expect(setup.calls).toHaveLength(1);
  });

  it("keeps the pool's in-flight count and the router's bookings in step", async () => {
    const setup = workers({ a: healthy() });
    const events: string[] = [];
    const base = selectorRouter("round-robin", setup.pool);
    const router: WorkerRouter = {
      route: (r, w) => base.route(r, w),
      prefillComplete: (id) => events.push(`prefill ${id}`),
      free: (id) => events.push(`free ${id}`),
    };
    const run = chain(setup, router);
    for await (const _ of run(request(), context())) {
      expect(setup.pool.load(1n, 0).activeRequests).toBe(1);
    }
    expect(setup.pool.load(1n, 0).activeRequests).toBe(0);
    expect(events).toEqual(["prefill r1", "free r1"]);
  });
});
