import { describe, expect, it } from "vitest";
import { type KvCacheEvent, storedFromTokens } from "../events.js";
import { computeLocalHashes } from "../hash.js";
import type { ActiveSequenceUpdate } from "./active.js";
import {
  type KvEventSource,
  KvRouter,
  type KvRouterWorker,
  NoWorkersError,
  QueueFullError,
  type ReplicaSyncPort,
  RouterClosedError,
} from "./kv-router.js";

const BS = 4;
const worker = (workerId: bigint, maxNumBatchedTokens = 8192): KvRouterWorker => ({
  workerId,
  dataParallelSize: 1,
  maxNumBatchedTokens,
});
const A = worker(1n);
const B = worker(2n);
const tokens = (n: number, offset = 0) => Array.from({ length: n }, (_, i) => i + offset);

/** An in-memory event source the test pushes events into. */
function eventSource(): KvEventSource & { push(events: KvCacheEvent[]): void } {
  const handlers = new Set<(events: readonly KvCacheEvent[]) => void>();
  return {
    subscribe(h) {
      handlers.add(h);
      return () => handlers.delete(h);
    },
    push(events) {
      for (const h of handlers) h(events);
    },
  };
}

/** A bus every replica publishes to and hears from, through JSON like the NATS one. */
function replicaBus(): () => ReplicaSyncPort {
  const handlers = new Set<(u: unknown) => void>();
  return () => ({
    publish(u: ActiveSequenceUpdate) {
      const wire = JSON.stringify(u);
      for (const h of handlers) h(JSON.parse(wire));
    },
    subscribe(h) {
      handlers.add(h);
      return () => handlers.delete(h);
    },
  });
}

const stored = (workerId: bigint, toks: number[], eventId = 1n): KvCacheEvent => ({
  workerId,
  dpRank: 0,
  eventId,
  data: storedFromTokens(toks, BS),
});

describe("KvRouter", () => {
  it("routes a request to the worker holding its longest cached prefix", async () => {
    const events = eventSource();
    const router = new KvRouter({ blockSize: BS, events, rng: () => 0 });
    events.push([stored(2n, tokens(32))]);
    expect(router.eventsApplied).toBe(1);
    const d = await router.route({ requestId: "r1", tokenIds: tokens(40) }, [A, B]);
    expect(d).toMatchObject({ workerId: 2n, dpRank: 0, overlapBlocks: 8, promptTokens: 40 });
    expect(router.load(2n, 0)).toEqual({ activePrefillTokens: 8, activeDecodeBlocks: 10, activeRequests: 1 });
  });

  it("spills off the cached worker once its load outweighs the overlap", async () => {
    const events = eventSource();
    const router = new KvRouter({ blockSize: BS, events, rng: () => 0 });
    events.push([stored(1n, tokens(16))]);
    const chosen: bigint[] = [];
    for (let i = 0; i < 6; i++) {
      chosen.push((await router.route({ requestId: `r${i}`, tokenIds: tokens(20) }, [A, B])).workerId);
    }
    // A holds 4 of 5 blocks: the first requests go there, then A's growing load sends some to B.
    expect(chosen[0]).toBe(1n);
    expect(chosen).toContain(2n);
    expect(chosen.filter((w) => w === 1n).length).toBeGreaterThan(chosen.filter((w) => w === 2n).length);
  });

  it("with the ttft cost model, keeps long prompts on their cache where the linear model spreads them", async () => {
    // 1 ms per step plus 0.01 ms per prefill token; decode adds 1 ms per step per 1,000 KV tokens.
    const perfProfile = {
      prefillTokens: [1, 1000],
      prefillMs: [1.01, 11],
      decodeKvTokens: [1, 100_000],
      decodeContextLength: [1, 100_000],
      decodeMs: [
        [1, 1],
        [101, 101],
      ],
    };
    const timed = (id: bigint) => ({ ...worker(id, 1000), perfProfile });
    const run = async (model: "linear" | "ttft") => {
      const events = eventSource();
      const router = new KvRouter({ blockSize: BS, events, rng: () => 0, cost: { model } });
      events.push([stored(1n, tokens(2000))]);
      const chosen: bigint[] = [];
      // Four requests for the cached 2,000-token prompt plus a few new tokens, none finishing.
      for (let i = 0; i < 4; i++) {
        chosen.push(
          (await router.route({ requestId: `r${i}`, tokenIds: tokens(2008) }, [timed(1n), timed(2n)]))
            .workerId,
        );
      }
      return chosen;
    };
    // Linear: the first request's 502 blocks of decode load on A outweigh the 500-block credit, so the second
    // goes to B and prefills all 2,008 tokens again.
    expect(await run("linear")).toEqual([1n, 2n, 1n, 1n]);
    // ttft: 8 uncached tokens on A against 2,008 on B; A's backlog of 8-token prefills never catches up.
    expect(await run("ttft")).toEqual([1n, 1n, 1n, 1n]);
  });

  it("with the ttft cost model, counts a prompt booked and still in prefill as cached where it went", async () => {
    const router = new KvRouter({ blockSize: BS, rng: () => 0, cost: { model: "ttft" } });
    const perfProfile = {
      prefillTokens: [1, 1000],
      prefillMs: [1, 11],
      decodeKvTokens: [1, 2],
      decodeContextLength: [1, 2],
      decodeMs: [
        [0, 0],
        [0, 0],
      ],
    };
    const timed = (id: bigint) => ({ ...worker(id, 1000), perfProfile });
    const first = await router.route({ requestId: "a", tokenIds: tokens(400) }, [timed(1n), timed(2n)]);
    const second = await router.route({ requestId: "b", tokenIds: tokens(400) }, [timed(1n), timed(2n)], {
      book: false,
    });
    expect(second.overlapBlocks).toBe(100);
    expect(second.workerId).toBe(first.workerId);
    // Once its prefill completed, the worker's KV events say what it holds; nothing is assumed any more.
    router.markPrefillComplete("a");
    const third = await router.route({ requestId: "c", tokenIds: tokens(400) }, [timed(1n), timed(2n)], {
      book: false,
    });
    expect(third.overlapBlocks).toBe(0);
  });

  it("keys the cache by LoRA name and cache salt", async () => {
    const events = eventSource();
    const router = new KvRouter({ blockSize: BS, events, rng: () => 0 });
    events.push([stored(2n, tokens(16))]);
    const salted = await router.route({ requestId: "s", tokenIds: tokens(16), cacheSalt: "tenant" }, [A, B], {
      book: false,
    });
    expect(salted.overlapBlocks).toBe(0);
    const plain = await router.route({ requestId: "p", tokenIds: tokens(16) }, [A, B], { book: false });
    expect(plain).toMatchObject({ workerId: 2n, overlapBlocks: 4 });
    expect(router.activeRequests).toBe(0);
  });

  it("predicts cache contents from its own decisions when KV events are off", async () => {
    let now = 0;
    const router = new KvRouter({
      blockSize: BS,
      useKvEvents: false,
      approxTtlMs: 1000,
      now: () => now,
      rng: () => 0,
    });
    const first = await router.route({ requestId: "a", tokenIds: tokens(32) }, [A, B]);
    router.free("a");
    const second = await router.route({ requestId: "b", tokenIds: tokens(32) }, [A, B]);
    expect(second).toMatchObject({ workerId: first.workerId, overlapBlocks: 8 });
    router.free("b");
    now = 5000;
    const third = await router.route({ requestId: "c", tokenIds: tokens(32) }, [A, B]);
    expect(third.overlapBlocks).toBe(0);
  });

  it("asks a remote indexer when given one, with the request's local hashes", async () => {
    const asked: BigUint64Array[] = [];
    const router = new KvRouter({
      blockSize: BS,
      rng: () => 0,
      remoteFindMatches: async (hashes) => {
        asked.push(hashes);
        return [{ workerId: 2n, dpRank: 0, matchedBlocks: 3 }];
      },
    });
    const d = await router.route({ requestId: "r", tokenIds: tokens(16) }, [A, B]);
    expect(d).toMatchObject({ workerId: 2n, overlapBlocks: 3 });
    expect(asked).toEqual([computeLocalHashes(tokens(16), BS)]);
  });

  it("accepts local hashes instead of tokens and reports potential loads", async () => {
    const events = eventSource();
    const router = new KvRouter({ blockSize: BS, events, rng: () => 0 });
    events.push([stored(1n, tokens(8))]);
    const localHashes = computeLocalHashes(tokens(12), BS);
    const loads = await router.potentialLoads({ requestId: "q", localHashes }, [A, B]);
    expect(
      loads.map((l) => [l.workerId, l.overlapBlocks, l.potentialPrefillTokens, l.potentialDecodeBlocks]),
    ).toEqual([
      [1n, 2, 4, 3],
      [2n, 0, 12, 3],
    ]);
  });

  it("shares bookings with replicas, so each sees the other's load", async () => {
    const bus = replicaBus();
    const r1 = new KvRouter({ blockSize: BS, replicaSync: bus(), replicaId: "r1", rng: () => 0 });
    const r2 = new KvRouter({ blockSize: BS, replicaSync: bus(), replicaId: "r2", rng: () => 0 });
    const d = await r1.route({ requestId: "x", tokenIds: tokens(40) }, [A, B]);
    expect(r2.load(d.workerId, 0)).toEqual({
      activePrefillTokens: 40,
      activeDecodeBlocks: 10,
      activeRequests: 1,
    });
    // r2 now prefers the other worker.
    const other = await r2.route({ requestId: "y", tokenIds: tokens(40, 1000) }, [A, B]);
    expect(other.workerId).not.toBe(d.workerId);
    r1.markPrefillComplete("x");
    expect(r2.load(d.workerId, 0).activePrefillTokens).toBe(0);
    r1.free("x");
    expect(r2.load(d.workerId, 0).activeRequests).toBe(0);
    expect(r1.activeRequests).toBe(1);
  });

  it("re-books a request routed again (a retry) instead of counting it twice", async () => {
    const router = new KvRouter({ blockSize: BS, rng: () => 0 });
    await router.route({ requestId: "r", tokenIds: tokens(16) }, [A]);
    await router.route({ requestId: "r", tokenIds: tokens(16) }, [B]);
    expect(router.activeRequests).toBe(1);
    expect(router.load(1n, 0).activeRequests).toBe(0);
    router.free("r");
    expect(router.activeRequests).toBe(0);
  });

  it("queues while every worker is busy, serves by priority, and rejects past the bound", async () => {
    // Busy once a worker has more than 0.5 * 8 = 4 prefill tokens.
    const small = worker(1n, 8);
    const router = new KvRouter({ blockSize: BS, queueThreshold: 0.5, maxQueueSize: 2, rng: () => 0 });
    await router.route({ requestId: "first", tokenIds: tokens(16) }, [small]);
    const order: string[] = [];
    const low = router
      .route({ requestId: "low", tokenIds: tokens(16) }, [small])
      .then(() => order.push("low"));
    const high = router
      .route({ requestId: "high", tokenIds: tokens(16), priority: 5 }, [small])
      .then(() => order.push("high"));
    // Each looks its prompt up first (a microtask), then joins the queue.
    await new Promise((resolve) => setImmediate(resolve));
    expect(router.queueSize).toBe(2);
    await expect(router.route({ requestId: "shed", tokenIds: tokens(16) }, [small])).rejects.toBeInstanceOf(
      QueueFullError,
    );
    router.markPrefillComplete("first");
    await high;
    expect(order).toEqual(["high"]);
    // "high" is in prefill now, so "low" still waits.
    expect(router.queueSize).toBe(1);
    router.free("high");
    await low;
    expect(order).toEqual(["high", "low"]);
  });

  it("frees a booking whose lease ran out, and lets the queue move", async () => {
    let now = 1_000;
    const small = worker(1n, 8);
    const router = new KvRouter({
      blockSize: BS,
      queueThreshold: 0.5,
      bookingLeaseMs: 5_000,
      now: () => now,
      rng: () => 0,
    });
    // A caller that books and never frees (BestWorker with update_states, then nothing).
    await router.route({ requestId: "leaked", tokenIds: tokens(16) }, [small]);
    const waiting = router.route({ requestId: "waits", tokenIds: tokens(16) }, [small]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(router.queueSize).toBe(1);
    now += 4_000;
    expect(router.sweepExpired()).toHaveLength(0);
    now += 1_000;
    expect(router.sweepExpired()).toHaveLength(1);
    await waiting;
    expect(router.queueSize).toBe(0);
    // A freed request's lease lapsing later does nothing more.
    router.free("waits");
    now += 10_000;
    expect(router.sweepExpired()).toHaveLength(0);
    expect(router.activeRequests).toBe(0);
  });

  it("takes a caller's own shorter lease", async () => {
    let now = 0;
    const router = new KvRouter({ blockSize: BS, bookingLeaseMs: 5_000, now: () => now });
    await router.route({ requestId: "a", tokenIds: tokens(16) }, [A], { leaseMs: 100 });
    await router.route({ requestId: "b", tokenIds: tokens(16) }, [A]);
    now = 200;
    expect(router.sweepExpired()).toHaveLength(1);
    expect(router.activeRequests).toBe(1);
  });

  it("counts every request of a burst before the next is admitted, even with a slow index lookup", async () => {
    // A remote indexer that answers after a delay: every request of the burst is awaiting it at once.
    const slowIndex = async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return [];
    };
    const small = worker(1n, 8);
    const router = new KvRouter({
      blockSize: BS,
      queueThreshold: 0.5,
      maxQueueSize: 3,
      remoteFindMatches: slowIndex,
      rng: () => 0,
    });
    const burst = Array.from({ length: 40 }, (_, i) =>
      router.route({ requestId: `b${i}`, tokenIds: tokens(16) }, [small]).then(
        () => "routed",
        (error: unknown) => (error instanceof QueueFullError ? "shed" : "failed"),
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    // One admitted (it makes the worker busy), three queued, the rest shed at once.
    expect(router.activeRequests).toBe(1);
    expect(router.queueSize).toBe(3);
    router.close();
    const outcomes = await Promise.all(burst);
    expect(outcomes.filter((o) => o === "routed")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "shed")).toHaveLength(36);
  });

  it("drops a queued request whose caller gave up, and rejects the rest on close", async () => {
    const small = worker(1n, 8);
    const router = new KvRouter({ blockSize: BS, queueThreshold: 0, rng: () => 0 });
    await router.route({ requestId: "first", tokenIds: tokens(16) }, [small]);
    const ac = new AbortController();
    const gaveUp = router.route({ requestId: "a", tokenIds: tokens(16) }, [small], { signal: ac.signal });
    const waiting = router.route({ requestId: "b", tokenIds: tokens(16) }, [small]);
    ac.abort(new Error("client left"));
    await expect(gaveUp).rejects.toThrow("client left");
    expect(router.queueSize).toBe(1);
    router.close();
    await expect(waiting).rejects.toBeInstanceOf(RouterClosedError);
  });

  it("forgets a worker that left, and refuses to route with no candidates", async () => {
    const events = eventSource();
    const router = new KvRouter({ blockSize: BS, events, rng: () => 0 });
    events.push([stored(2n, tokens(16))]);
    await router.route({ requestId: "r", tokenIds: tokens(16) }, [A, B]);
    router.removeWorker(2n);
    expect(router.activeRequests).toBe(0);
    const d = await router.route({ requestId: "s", tokenIds: tokens(16) }, [A, B], { book: false });
    expect(d.overlapBlocks).toBe(0);
    await expect(router.route({ requestId: "t", tokenIds: tokens(4) }, [])).rejects.toBeInstanceOf(
      NoWorkersError,
    );
  });
});
