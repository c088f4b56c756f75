import { describe, expect, it } from "vitest";
import { allWorkersBusy, type QueuePolicy, RequestQueue } from "./queue.js";

function drain<T>(q: RequestQueue<T>): T[] {
  const out: T[] = [];
  for (let x = q.pop(); x !== undefined; x = q.pop()) out.push(x);
  return out;
}

function fill(policy: QueuePolicy, items: { id: string; priority?: number; promptTokens: number }[]) {
  const clock = { t: 0 };
  const q = new RequestQueue<string>({ policy, maxSize: 100, now: () => clock.t, priorityJumpMs: 10 });
  for (const it of items) {
    q.push(it.id, it);
    clock.t += 1;
  }
  return q;
}

describe("RequestQueue", () => {
  const items = [
    { id: "a", promptTokens: 1000 },
    { id: "b", promptTokens: 10 },
    { id: "c", promptTokens: 100 },
  ];

  it("fcfs serves in arrival order", () => {
    expect(drain(fill("fcfs", items))).toEqual(["a", "b", "c"]);
  });

  it("lcfs serves the latest first", () => {
    expect(drain(fill("lcfs", items))).toEqual(["c", "b", "a"]);
  });

  it("wspt serves the shortest job first, weighted by priority", () => {
    expect(drain(fill("wspt", items))).toEqual(["b", "c", "a"]);
    // weight 1+9 = 10 over 1000 tokens equals 1 over 100: the earlier of the tie goes first.
    const q = fill("wspt", [
      { id: "big-important", promptTokens: 1000, priority: 9 },
      { id: "mid", promptTokens: 100 },
      { id: "small", promptTokens: 10 },
    ]);
    expect(drain(q)).toEqual(["small", "big-important", "mid"]);
  });

  it("priority moves a request earlier under fcfs and lcfs", () => {
    const withPriority = [...items, { id: "vip", promptTokens: 5, priority: 1 }];
    // vip arrives at t=3; one priority unit jumps 10 ms, ahead of everyone under fcfs.
    expect(drain(fill("fcfs", withPriority))).toEqual(["vip", "a", "b", "c"]);
    const late = [{ id: "vip", promptTokens: 5, priority: 1 }, ...items];
    expect(drain(fill("lcfs", late))).toEqual(["vip", "c", "b", "a"]);
    const mild = fill("fcfs", [...items, { id: "vip", promptTokens: 5, priority: 0.25 }]);
    expect(drain(mild)).toEqual(["a", "vip", "b", "c"]);
  });

  it("refuses pushes past its bound and removes cancelled requests", () => {
    const q = new RequestQueue<number>({ policy: "fcfs", maxSize: 2, now: () => 0 });
    expect(q.push(1, { promptTokens: 1 })).toBe(true);
    expect(q.push(2, { promptTokens: 1 })).toBe(true);
    expect(q.isFull).toBe(true);
    expect(q.push(3, { promptTokens: 1 })).toBe(false);
    expect(q.remove((x) => x === 1)).toEqual([1]);
    expect(q.push(3, { promptTokens: 1 })).toBe(true);
    expect(q.peek()).toBe(2);
    expect(drain(q)).toEqual([2, 3]);
  });

  it("keeps heap order over many random pushes and pops", () => {
    let t = 0;
    const q = new RequestQueue<number>({ policy: "fcfs", maxSize: 10_000, now: () => t });
    const ref: { id: number; key: number }[] = [];
    let seed = 7;
    const rnd = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let i = 0; i < 2000; i++) {
      t += 1;
      const priority = Math.floor(rnd() * 5);
      q.push(i, { promptTokens: 1, priority });
      ref.push({ id: i, key: t - priority * 1000 });
      if (rnd() < 0.3) {
        ref.sort((a, b) => a.key - b.key || a.id - b.id);
        expect(q.pop()).toBe(ref.shift()?.id);
      }
    }
    ref.sort((a, b) => a.key - b.key || a.id - b.id);
    expect(drain(q)).toEqual(ref.map((r) => r.id));
  });
});

describe("allWorkersBusy", () => {
  const load = (activePrefillTokens: number) => ({
    activePrefillTokens,
    activeDecodeBlocks: 0,
    activeRequests: 1,
  });
  it("is true only when every worker is above threshold * max_num_batched_tokens", () => {
    expect(allWorkersBusy([load(9000), load(8193)], 1, 8192)).toBe(true);
    expect(allWorkersBusy([load(9000), load(8192)], 1, 8192)).toBe(false);
    expect(allWorkersBusy([load(1)], 0, 8192)).toBe(true);
    expect(allWorkersBusy([load(0)], 0, 8192)).toBe(false);
    expect(allWorkersBusy([load(9000)], undefined, 8192)).toBe(false);
    expect(allWorkersBusy([], 1, 8192)).toBe(false);
  });
});
