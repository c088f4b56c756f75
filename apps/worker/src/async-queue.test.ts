import { describe, expect, it } from "vitest";
import { AsyncQueue } from "./async-queue.js";

describe("AsyncQueue", () => {
  it("yields pushed items in order, including those pushed while the consumer waits", async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    const seen: number[] = [];
    const consumer = (async () => {
      for await (const n of queue) seen.push(n);
    })();
    await Promise.resolve();
    queue.push(2);
    queue.push(3);
    queue.end();
    await consumer;
    expect(seen).toEqual([1, 2, 3]);
  });

  it("drains queued items before surfacing the error it ended with", async () => {
    const queue = new AsyncQueue<string>();
    queue.push("a");
    queue.end(new Error("worker gone"));
    queue.push("ignored");
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const s of queue) seen.push(s);
      })(),
    ).rejects.toThrow("worker gone");
    expect(seen).toEqual(["a"]);
  });
});
