import { computeBlockHashes } from "@kvasir/kv";
import type { KvEvent } from "@kvasir/protocol";
import { describe, expect, it } from "vitest";
import type { MockerConfigInput } from "./config.js";
import { MockEngine, type StepResult } from "./engine.js";
import type { StepOutput } from "./scheduler.js";
import type { EngineRequest } from "./sequence.js";

function tokens(n: number, start = 1): number[] {
  return Array.from({ length: n }, (_, i) => start + i);
}

function request(
  requestId: string,
  tokenIds: number[],
  maxTokens: number,
  extra: Partial<EngineRequest> = {},
): EngineRequest {
  return { requestId, tokenIds, maxTokens, ignoreEos: true, ...extra };
}

/** Applies KV events to per-rank sets of cached hashes, checking each is consistent with what came before. */
class EventReplica {
  readonly ranks = new Map<number, Set<bigint>>();
  nextEventId = 0n;
  stored = 0;
  removed = 0;

  apply(events: KvEvent[]): void {
    for (const ev of events) {
      expect(ev.eventId).toBe(this.nextEventId);
      this.nextEventId++;
      let set = this.ranks.get(ev.dpRank);
      if (!set) {
        set = new Set();
        this.ranks.set(ev.dpRank, set);
      }
      const d = ev.data;
      if (d.case === "stored") {
        // A step's chain of new blocks comes as one event, with every block's tokens.
        expect(d.value.blocks.length).toBeGreaterThan(0);
        expect(d.value.tokenIds).toHaveLength(d.value.blocks.length * d.value.blockSize);
        for (const { seqHash } of d.value.blocks) {
          expect(set.has(seqHash)).toBe(false);
          set.add(seqHash);
          this.stored++;
        }
      } else if (d.case === "removed") {
        for (const hash of d.value.seqHashes) expect(set.delete(hash)).toBe(true);
        this.removed += d.value.seqHashes.length;
      } else if (d.case === "cleared") {
        set.clear();
      }
    }
  }

  hashes(dpRank: number): bigint[] {
    return [...(this.ranks.get(dpRank) ?? [])].sort();
  }
}

/** Steps until idle, checking the replayed events against the engine after every step. */
function runToIdle(engine: MockEngine, replica = new EventReplica(), maxSteps = 100_000) {
  const outputs = new Map<string, StepOutput[]>();
  const steps: StepResult[] = [];
  for (let i = 0; i < maxSteps; i++) {
    const result = engine.step();
    if (!result) return { outputs, steps, replica };
    steps.push(result);
    replica.apply(result.kvEvents);
    for (let r = 0; r < engine.config.dataParallelSize; r++) {
      expect(replica.hashes(r)).toEqual(engine.cachedBlockHashes(r).sort());
    }
    for (const out of result.outputs) {
      const list = outputs.get(out.requestId) ?? [];
      list.push(out);
      outputs.set(out.requestId, list);
    }
  }
  throw new Error("engine did not go idle");
}

const generated = (outs: StepOutput[] | undefined) => (outs ?? []).flatMap((o) => o.tokenIds);
const small: MockerConfigInput = { numGpuBlocks: 64, blockSize: 4, maxModelLen: 200, watermark: 0 };

describe("MockEngine", () => {
  it("generates exactly maxTokens with ignoreEos, one token per step, and then goes idle", () => {
    const engine = new MockEngine(small);
    engine.addRequest(request("a", tokens(10), 7));
    const { outputs, steps } = runToIdle(engine);
    const outs = outputs.get("a") ?? [];
    expect(outs.map((o) => o.tokenIds.length)).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(outs.at(-1)?.finishReason).toBe("length");
    expect(outs.at(-1)?.completionTokens).toBe(7);
    expect(outs.slice(0, -1).every((o) => o.finishReason === undefined)).toBe(true);
    expect(steps).toHaveLength(7);
    expect(engine.step()).toBeNull();
    for (const id of generated(outs)) {
      expect(id).toBeGreaterThanOrEqual(engine.config.outputTokenIdMin);
      expect(id).toBeLessThan(engine.config.outputTokenIdMax);
    }
  });

  it("is deterministic: same config and requests give the same tokens, timings and events", () => {
    const run = () => {
      const engine = new MockEngine({ ...small, seed: 42 }, { workerId: 9n });
      engine.addRequest(request("a", tokens(30), 12));
      engine.addRequest(request("b", tokens(30), 5));
      return runToIdle(engine).steps;
    };
    expect(run()).toEqual(run());
  });

  it("derives output ids from the request seed when one is given, else from engine seed and request id", () => {
    const ids = (config: MockerConfigInput, req: EngineRequest) => {
      const engine = new MockEngine(config);
      engine.addRequest(req);
      return generated(runToIdle(engine).outputs.get(req.requestId));
    };
    const seeded = ids(small, request("x", tokens(8), 10, { seed: 5 }));
    expect(ids({ ...small, seed: 1 }, request("y", tokens(8), 10, { seed: 5 }))).toEqual(seeded);
    const a = ids(small, request("x", tokens(8), 10));
    expect(ids(small, request("x", tokens(8), 10))).toEqual(a);
    expect(ids(small, request("z", tokens(8), 10))).not.toEqual(a);
    expect(ids({ ...small, seed: 1 }, request("x", tokens(8), 10))).not.toEqual(a);
  });

  it("never emits configured EOS ids", () => {
    const engine = new MockEngine({
      ...small,
      outputTokenIdMin: 0,
      outputTokenIdMax: 4,
      eosTokenIds: [1, 2],
    });
    engine.addRequest(request("a", tokens(8), 50, { ignoreEos: false }));
    const out = generated(runToIdle(engine).outputs.get("a"));
    expect(out).toHaveLength(50);
    expect(out.filter((id) => id === 1 || id === 2)).toEqual([]);
  });

  it("stops at a stop token id (returning it) once minTokens are out", () => {
    const reference = new MockEngine(small);
    reference.addRequest(request("r", tokens(8), 20, { seed: 77 }));
    const free = generated(runToIdle(reference).outputs.get("r"));
    const stopId = free[5] as number;
    const firstAt = free.indexOf(stopId);

    const engine = new MockEngine(small);
    engine.addRequest(request("s", tokens(8), 20, { seed: 77, stopTokenIds: [stopId] }));
    const outs = runToIdle(engine).outputs.get("s") ?? [];
    expect(generated(outs)).toEqual(free.slice(0, firstAt + 1));
    expect(outs.at(-1)?.finishReason).toBe("stop");

    const withMin = new MockEngine(small);
    withMin.addRequest(
      request("m", tokens(8), 20, { seed: 77, stopTokenIds: [stopId], minTokens: firstAt + 3 }),
    );
    const minOut = generated(runToIdle(withMin).outputs.get("m"));
    expect(minOut.slice(0, firstAt + 3)).not.toContain(stopId);
    expect(minOut.length).toBeGreaterThanOrEqual(firstAt + 3);
  });

  it("ends with 'length' when the context length is reached before maxTokens", () => {
    const engine = new MockEngine({ ...small, maxModelLen: 20 });
    engine.addRequest(request("a", tokens(15), 100));
    const outs = runToIdle(engine).outputs.get("a") ?? [];
    expect(generated(outs)).toHaveLength(5);
    expect(outs.at(-1)?.finishReason).toBe("length");
  });

  it("reuses a cached prefix: no new blocks for it, cachedTokens reported, no Stored events for it", () => {
    const engine = new MockEngine({ ...small, numGpuBlocks: 32 });
    const replica = new EventReplica();
    const prompt = tokens(17); // 4 full blocks of 4 and one partial
    engine.addRequest(request("a", prompt, 20));
    const first = engine.step() as StepResult;
    replica.apply(first.kvEvents);
    expect(first.outputs[0]?.cachedTokens).toBe(0);
    expect(replica.stored).toBe(4);
    const activeBefore = Number(first.loadMetrics[0]?.activeKvBlocks);
    expect(activeBefore).toBe(5);

    engine.addRequest(request("b", prompt, 20));
    const second = engine.step() as StepResult;
    replica.apply(second.kvEvents);
    const b = second.outputs.find((o) => o.requestId === "b");
    expect(b?.cachedTokens).toBe(16);
    expect(replica.stored).toBe(4);
    // b holds the 4 shared blocks plus one new partial block; a grew by none (18 tokens fit 5 blocks).
    expect(Number(second.loadMetrics[0]?.activeKvBlocks)).toBe(activeBefore + 1);
    const { seq } = computeBlockHashes(prompt, 4);
    expect(engine.cachedBlockHashes().sort()).toEqual([...seq].sort());
  });

  it("recomputes the last token of a fully cached prompt, as vLLM", () => {
    const engine = new MockEngine(small);
    const replica = new EventReplica();
    engine.addRequest(request("a", tokens(16), 1));
    runToIdle(engine, replica);
    engine.addRequest(request("b", tokens(16), 1));
    const b = runToIdle(engine, replica).outputs.get("b")?.[0];
    expect(b?.cachedTokens).toBe(12);
  });

  it("counts imported KV (externalComputedTokens) as computed on admission: one token prefilled, blocks cached", () => {
    const engine = new MockEngine(small);
    const replica = new EventReplica();
    engine.addRequest(request("d", tokens(17), 3, { externalComputedTokens: 17 }));
    const first = engine.step();
    if (!first) throw new Error("no step");
    replica.apply(first.kvEvents);
    // Capped at the prompt less one: only the last prompt token runs, and it already samples the first output.
    expect(first.outputs).toHaveLength(1);
    expect(first.outputs[0]?.cachedTokens).toBe(0);
    // The 4 full prompt blocks entered the prefix cache as if computed here.
    const { seq } = computeBlockHashes(tokens(17), 4);
    expect(engine.cachedBlockHashes().sort()).toEqual([...seq].sort());
    // A one-token prefill over 16 tokens of context costs far less than the 17-token prefill of the same prompt.
    const local = new MockEngine(small);
    local.addRequest(request("l", tokens(17), 3));
    expect(first.durationMs).toBeLessThan(local.step()?.durationMs ?? 0);
    const rest = runToIdle(engine, replica).outputs.get("d") ?? [];
    expect(rest.at(-1)?.completionTokens).toBe(3);
    expect(engine.validateRequest(request("x", tokens(4), 1, { externalComputedTokens: -1 }))).toMatch(
      /externalComputedTokens must be a non-negative integer/,
    );
  });

  it("reports imported tokens out of prefill tokens in flight while the request waits", () => {
    const engine = new MockEngine(small);
    engine.addRequest(request("d", tokens(40), 2, { externalComputedTokens: 32 }));
    expect(Number(engine.loadMetrics()[0]?.prefillTokensInFlight)).toBe(8);
  });

  it("with prefix caching off, caches nothing, publishes no events and reports no hits", () => {
    const engine = new MockEngine({ ...small, enablePrefixCaching: false });
    engine.addRequest(request("a", tokens(17), 3));
    const first = runToIdle(engine);
    engine.addRequest(request("b", tokens(17), 3));
    const second = runToIdle(engine);
    expect([...first.steps, ...second.steps].flatMap((s) => s.kvEvents)).toEqual([]);
    expect(second.outputs.get("b")?.[0]?.cachedTokens).toBe(0);
    expect(engine.cachedBlockHashes()).toEqual([]);
  });

  it("keeps caches apart by LoRA name and cache salt, and tags Stored events with the LoRA name", () => {
    const engine = new MockEngine(small);
    const replica = new EventReplica();
    engine.addRequest(request("a", tokens(9), 1));
    runToIdle(engine, replica);
    engine.addRequest(request("b", tokens(9), 1, { loraName: "sql" }));
    const loraStep = engine.step() as StepResult;
    replica.apply(loraStep.kvEvents);
    expect(loraStep.outputs[0]?.cachedTokens).toBe(0);
    const loraBlocks = loraStep.kvEvents.map((e) =>
      e.data.case === "stored" ? [e.data.value.loraName, e.data.value.blocks.length] : undefined,
    );
    expect(loraBlocks).toEqual([["sql", 2]]);
    engine.addRequest(request("c", tokens(9), 1, { cacheSalt: "tenant" }));
    expect(runToIdle(engine, replica).outputs.get("c")?.[0]?.cachedTokens).toBe(0);
    engine.addRequest(request("d", tokens(9), 1));
    expect(runToIdle(engine, replica).outputs.get("d")?.[0]?.cachedTokens).toBe(8);
  });

  it("evicts least recently used cached blocks first, tail before prefix", () => {
    // 12 blocks of 4 tokens; each request holds 3 blocks (12 prompt tokens + 1 generated).
    const engine = new MockEngine({ ...small, numGpuBlocks: 12, maxModelLen: 16 });
    const replica = new EventReplica();
    const prompts = [tokens(12, 100), tokens(12, 200), tokens(12, 300), tokens(12, 400)];
    const hashes = prompts.map((p) => [...computeBlockHashes(p, 4).seq]);
    for (const [i, p] of prompts.entries()) {
      engine.addRequest(request(`r${i}`, p, 1));
      runToIdle(engine, replica);
    }
    expect(replica.removed).toBe(0);
    // Touch r0's prefix again so r1 becomes the least recently used.
    engine.addRequest(request("again", prompts[0] as number[], 1));
    runToIdle(engine, replica);
    const removed: bigint[] = [];
    engine.addRequest(request("new", tokens(12, 500), 1));
    for (const step of runToIdle(engine, replica).steps) {
      for (const ev of step.kvEvents)
        if (ev.data.case === "removed") removed.push(...ev.data.value.seqHashes);
    }
    expect(removed).toEqual([...(hashes[1] as bigint[])].reverse());
  });

  it("chunked prefill never schedules more than maxNumBatchedTokens in a step", () => {
    const engine = new MockEngine({ ...small, numGpuBlocks: 256, maxNumBatchedTokens: 64, maxModelLen: 400 });
    engine.addRequest(request("long", tokens(200), 3));
    const inFlight: number[] = [];
    const firstTokenStep: number[] = [];
    let step = 0;
    for (let r = engine.step(); r; r = engine.step()) {
      step++;
      inFlight.push(Number(r.loadMetrics[0]?.prefillTokensInFlight));
      for (const o of r.outputs) if (o.completionTokens === 1) firstTokenStep.push(step);
      if (step === 2) engine.addRequest(request("short", tokens(40, 900), 3));
    }
    // Steps 1-2: 64 of "long" each ("short" arrives after step 2). Step 3: 64 more of "long"; "short" waits,
    // the budget is spent. Step 4: the last 8 of "long" and all 40 of "short" share one budget.
    expect(inFlight.slice(0, 4)).toEqual([136, 72, 8 + 40, 0]);
    expect(firstTokenStep).toEqual([4, 4]);
  });

  it("rejects disabling chunked prefill when a prompt could exceed the step budget", () => {
    expect(() => new MockEngine({ enableChunkedPrefill: false })).toThrow(
      /maxNumBatchedTokens \(8192\) is smaller/,
    );
    const engine = new MockEngine({ ...small, enableChunkedPrefill: false, maxNumBatchedTokens: 200 });
    engine.addRequest(request("a", tokens(150), 2));
    engine.addRequest(request("b", tokens(150), 2));
    const first = engine.step() as StepResult;
    // Without chunking "b" does not fit the rest of the budget and waits whole.
    expect(first.outputs.map((o) => o.requestId)).toEqual(["a"]);
    expect(first.loadMetrics[0]?.numRequestsWaiting).toBe(1);
  });

  it("preempts when blocks run out, and the preempted request still completes with the same tokens", () => {
    const config: MockerConfigInput = { ...small, numGpuBlocks: 24, maxModelLen: 64 };
    const alone = (id: string) => {
      const engine = new MockEngine(config);
      engine.addRequest(request(id, tokens(8, id.length), 40));
      return generated(runToIdle(engine).outputs.get(id));
    };
    const engine = new MockEngine(config);
    const ids = ["a", "bb", "ccc", "dddd"];
    for (const id of ids) engine.addRequest(request(id, tokens(8, id.length), 40));
    const { outputs, steps } = runToIdle(engine);
    const preempted = steps.flatMap((s) => s.preempted);
    expect(preempted.length).toBeGreaterThan(0);
    for (const id of ids) {
      const outs = outputs.get(id) ?? [];
      expect(generated(outs)).toEqual(alone(id));
      expect(outs.at(-1)?.finishReason).toBe("length");
    }
    const last = steps.at(-1) as StepResult;
    expect(Number(last.loadMetrics[0]?.activeKvBlocks)).toBe(0);
  });

  it("admits higher priority first and preempts lower priority first", () => {
    const engine = new MockEngine({ ...small, maxNumSeqs: 1 });
    engine.addRequest(request("low", tokens(4), 1, { priority: 0 }));
    engine.addRequest(request("high", tokens(4, 50), 1, { priority: 5 }));
    const first = engine.step() as StepResult;
    expect(first.outputs.map((o) => o.requestId)).toEqual(["high"]);

    const tight = new MockEngine({ ...small, numGpuBlocks: 10, maxModelLen: 40 });
    tight.addRequest(request("lo", tokens(4), 30, { priority: -1 }));
    tight.addRequest(request("hi", tokens(4, 60), 30, { priority: 1 }));
    const preempted = runToIdle(tight).steps.flatMap((s) => s.preempted);
    expect(preempted.length).toBeGreaterThan(0);
    expect(new Set(preempted)).toEqual(new Set(["lo"]));
  });

  it("abort frees the request's blocks at once and reports it cancelled", () => {
    const engine = new MockEngine(small);
    engine.addRequest(request("a", tokens(20), 50));
    engine.addRequest(request("b", tokens(20, 300), 50));
    engine.step();
    engine.step();
    expect(Number(engine.loadMetrics()[0]?.activeKvBlocks)).toBeGreaterThan(0);
    const out = engine.abort("a");
    expect(out).toMatchObject({
      requestId: "a",
      tokenIds: [],
      finishReason: "cancelled",
      completionTokens: 2,
    });
    expect(engine.abort("a")).toBeUndefined();
    expect(engine.abort("b")?.finishReason).toBe("cancelled");
    const metrics = engine.loadMetrics()[0];
    expect(Number(metrics?.activeKvBlocks)).toBe(0);
    expect(metrics?.numRequestsRunning).toBe(0);
    expect(engine.step()).toBeNull();
    // The freed full blocks stay in the prefix cache (all but the last block, whose last token is recomputed).
    engine.addRequest(request("c", tokens(20), 1));
    expect(engine.step()?.outputs[0]?.cachedTokens).toBe(16);
  });

  it("abort of a waiting request removes it from the queue", () => {
    const engine = new MockEngine({ ...small, maxNumSeqs: 1 });
    const replica = new EventReplica();
    engine.addRequest(request("a", tokens(4), 3));
    engine.addRequest(request("b", tokens(4, 40), 3));
    replica.apply(engine.step()?.kvEvents ?? []);
    expect(engine.loadMetrics()[0]?.numRequestsWaiting).toBe(1);
    expect(engine.abort("b")?.cachedTokens).toBe(0);
    expect(engine.loadMetrics()[0]?.numRequestsWaiting).toBe(0);
    expect([...runToIdle(engine, replica).outputs.keys()]).toEqual(["a"]);
  });

  it("keeps dp ranks isolated: own caches, own events, least loaded rank by default", () => {
    const engine = new MockEngine({ ...small, dataParallelSize: 2 }, { workerId: 3n });
    const replica = new EventReplica();
    expect(engine.addRequest(request("a", tokens(12), 2, { dpRank: 0 }))).toBe(0);
    runToIdle(engine, replica);
    expect(engine.addRequest(request("b", tokens(12), 2, { dpRank: 1 }))).toBe(1);
    const { outputs, steps } = runToIdle(engine, replica);
    expect(outputs.get("b")?.[0]?.cachedTokens).toBe(0);
    const events = steps.flatMap((s) => s.kvEvents);
    expect(events.length).toBeGreaterThan(0);
    expect(events.every((e) => e.dpRank === 1 && e.workerId === 3n)).toBe(true);
    expect(engine.cachedBlockHashes(0).sort()).toEqual(engine.cachedBlockHashes(1).sort());
    expect(engine.loadMetrics().map((m) => m.dpRank)).toEqual([0, 1]);

    const spread = new MockEngine({ ...small, dataParallelSize: 2 });
    expect(spread.addRequest(request("x", tokens(8), 5))).toBe(0);
    expect(spread.addRequest(request("y", tokens(8), 5))).toBe(1);
    const metrics = spread.step()?.loadMetrics ?? [];
    expect(metrics.map((m) => m.numRequestsRunning)).toEqual([1, 1]);
  });

  it("reset cancels every request and clears every rank's cache with one Cleared event per rank", () => {
    const engine = new MockEngine({ ...small, dataParallelSize: 2 }, { firstEventId: 100n });
    engine.addRequest(request("a", tokens(12), 10));
    engine.addRequest(request("b", tokens(12), 10));
    const first = engine.step() as StepResult;
    expect(first.kvEvents[0]?.eventId).toBe(100n);
    const { outputs, kvEvents } = engine.reset();
    expect(outputs.map((o) => o.finishReason)).toEqual(["cancelled", "cancelled"]);
    expect(kvEvents.map((e) => [e.data.case, e.dpRank])).toEqual([
      ["cleared", 0],
      ["cleared", 1],
    ]);
    expect(kvEvents[0]?.eventId).toBe(100n + BigInt(first.kvEvents.length));
    expect(engine.cachedBlockHashes(0)).toEqual([]);
    expect(engine.step()).toBeNull();
  });

  it("events replay exactly onto the cache under sharing, eviction and preemption", () => {
    const engine = new MockEngine({ ...small, numGpuBlocks: 40, maxModelLen: 100, dataParallelSize: 2 });
    const replica = new EventReplica();
    let rng = 12345;
    const rand = (n: number) => {
      rng = (Math.imul(rng, 1103515245) + 12345) >>> 0;
      return rng % n;
    };
    const prefixes = [tokens(20, 1), tokens(20, 500), tokens(20, 900)];
    let id = 0;
    let preemptions = 0;
    for (let round = 0; round < 30; round++) {
      for (let k = rand(4); k > 0; k--) {
        const prefix = prefixes[rand(prefixes.length)] as number[];
        const prompt = [...prefix.slice(0, 4 + rand(16)), ...tokens(rand(12), 2000 + id * 16)];
        engine.addRequest(
          request(`q${id++}`, prompt, 1 + rand(30), { loraName: rand(5) === 0 ? "ad" : undefined }),
        );
      }
      for (let s = rand(6); s > 0; s--) {
        const result = engine.step();
        if (!result) break;
        replica.apply(result.kvEvents);
        preemptions += result.preempted.length;
      }
    }
    const { steps } = runToIdle(engine, replica);
    preemptions += steps.flatMap((s) => s.preempted).length;
    expect(preemptions).toBeGreaterThan(0);
    expect(replica.removed).toBeGreaterThan(0);
    for (const r of [0, 1]) expect(replica.hashes(r)).toEqual(engine.cachedBlockHashes(r).sort());
  });

  it("explains why a request is refused", () => {
    const engine = new MockEngine({ ...small, dataParallelSize: 2, maxModelLen: 100 });
    const check = (extra: Partial<EngineRequest>) =>
      engine.validateRequest({ ...request("v", tokens(10), 5), ...extra });
    expect(check({})).toBeUndefined();
    expect(check({ tokenIds: [] })).toMatch(/prompt is empty/);
    expect(check({ maxTokens: 0 })).toMatch(/max_tokens must be a positive integer, got 0/);
    expect(check({ maxTokens: -3 })).toMatch(/got -3/);
    expect(check({ minTokens: 9 })).toMatch(/min_tokens must be an integer between 0 and max_tokens \(5\)/);
    expect(check({ tokenIds: tokens(100) })).toMatch(/prompt has 100 tokens but the context length is 100/);
    expect(check({ tokenIds: tokens(99) })).toBeUndefined();
    expect(check({ tokenIds: [1, -2] })).toMatch(/prompt token 1 \(-2\)/);
    expect(check({ requestId: "" })).toMatch(/request_id must not be empty/);
    expect(check({ dpRank: 2 })).toMatch(/dp_rank 2 is out of range: the engine has 2/);
    engine.addRequest(request("v", tokens(4), 1));
    expect(check({})).toMatch(/request id v is already in the engine/);
    expect(() => engine.addRequest(request("v", tokens(4), 1))).toThrow(/already in the engine/);

    const tiny = new MockEngine({ ...small, numGpuBlocks: 8, maxModelLen: 1000 });
    expect(tiny.validateRequest(request("t", tokens(20), 20))).toMatch(
      /can reach 40 tokens .* needs 10 KV blocks of 4 tokens, but a rank has 8 usable blocks/,
    );
    expect(tiny.validateRequest(request("t", tokens(20), 12))).toBeUndefined();
  });
});
