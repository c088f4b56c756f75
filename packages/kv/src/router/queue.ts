// The router's request queue: requests wait here while every worker is busy (--router-queue-threshold), ordered
// by --router-queue-policy. A higher priority moves a request earlier. The queue is bounded; past the bound a
// push is refused and the frontend sheds the request (503) instead of letting it hang.
import type { WorkerLoad } from "./types.js";

export type QueuePolicy = "fcfs" | "wspt" | "lcfs";
export const QUEUE_POLICIES: readonly QueuePolicy[] = ["fcfs", "wspt", "lcfs"];

export interface RequestQueueOptions {
  policy: QueuePolicy;
  /** Most requests held at once. */
  maxSize: number;
  /** Milliseconds clock. */
  now: () => number;
  /** How far one unit of priority moves a request's arrival time under fcfs/lcfs, in ms. Default 1000. */
  priorityJumpMs?: number;
}

export interface EnqueueOptions {
  /** Higher is more important. Default 0. */
  priority?: number;
  /** Prompt length, the job size for wspt. */
  promptTokens: number;
}

interface Entry<T> {
  item: T;
  /** Smaller is served first. */
  key: number;
  /** Insertion order, to break key ties first-in first-out. */
  order: number;
}

export class RequestQueue<T> {
  private readonly heap: Entry<T>[] = [];
  private readonly opts: Required<RequestQueueOptions>;
  private counter = 0;

  constructor(opts: RequestQueueOptions) {
    this.opts = { priorityJumpMs: 1000, ...opts };
  }

  get size(): number {
    return this.heap.length;
  }

  get isFull(): boolean {
    return this.heap.length >= this.opts.maxSize;
  }

  /** Adds a request; false (and nothing queued) when the queue is full. */
  push(item: T, o: EnqueueOptions): boolean {
    if (this.isFull) return false;
    this.heap.push({ item, key: this.keyOf(o), order: this.counter++ });
    this.up(this.heap.length - 1);
    return true;
  }

  /** The request to serve next. */
  pop(): T | undefined {
    const top = this.heap[0];
    if (top === undefined) return undefined;
    const last = this.heap.pop() as Entry<T>;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.down(0);
    }
    return top.item;
  }

  peek(): T | undefined {
    return this.heap[0]?.item;
  }

  /** Removes every queued request matching `pred` (e.g. cancelled ones); returns them. */
  remove(pred: (item: T) => boolean): T[] {
    const removed: Entry<T>[] = [];
    const kept: Entry<T>[] = [];
    for (const e of this.heap) (pred(e.item) ? removed : kept).push(e);
    if (removed.length === 0) return [];
    this.heap.length = 0;
    for (const e of kept) {
      this.heap.push(e);
      this.up(this.heap.length - 1);
    }
    return removed.map((e) => e.item);
  }

  private keyOf(o: EnqueueOptions): number {
    const priority = o.priority ?? 0;
    const jump = priority * this.opts.priorityJumpMs;
    const arrival = this.opts.now();
    switch (this.opts.policy) {
      case "fcfs":
        // Earliest effective arrival first; priority makes a request look as if it arrived earlier.
        return arrival - jump;
      case "lcfs":
        // Latest effective arrival first; priority makes a request look as if it arrived later.
        return -(arrival + jump);
      case "wspt":
        // Largest weight / size first, weight = 1 + priority (kept positive).
        return -Math.max(1 + priority, 1e-6) / Math.max(o.promptTokens, 1);
    }
  }

  private less(a: Entry<T>, b: Entry<T>): boolean {
    return a.key < b.key || (a.key === b.key && a.order < b.order);
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i] as Entry<T>, h[p] as Entry<T>)) break;
      [h[i], h[p]] = [h[p] as Entry<T>, h[i] as Entry<T>];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l] as Entry<T>, h[m] as Entry<T>)) m = l;
      if (r < h.length && this.less(h[r] as Entry<T>, h[m] as Entry<T>)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m] as Entry<T>, h[i] as Entry<T>];
      i = m;
    }
  }
}

/**
 * Dynamo's queueing condition: requests wait while every candidate worker's active prefill tokens exceed
 * `threshold * maxNumBatchedTokens`. An undefined threshold disables queueing; no candidates never queues.
 */
export function allWorkersBusy(
  loads: readonly WorkerLoad[],
  threshold: number | undefined,
  maxNumBatchedTokens: number,
): boolean {
  if (threshold === undefined || loads.length === 0) return false;
  const limit = threshold * maxNumBatchedTokens;
  return loads.every((l) => l.activePrefillTokens > limit);
}
