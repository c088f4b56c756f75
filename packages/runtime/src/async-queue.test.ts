import { describe, expect, it } from "vitest";
import { AsyncQueue } from "./async-queue.js";

describe("AsyncQueue", () => {
  it("delivers pushed items in order and ends after the queued ones", async () => {
    const queue = new AsyncQueue<number>();
    queue.push(1);
    queue.push(2);
    const seen: number[] = [];
    const reading = (async () => {
      for await (const item of queue) seen.push(item);
    })();
    queue.push(3);
    queue.end();
    queue.push(4);
    await reading;
    expect(seen).toEqual([1, 2, 3]);
  });

  it("drains queued items before surfacing the error it ended with", async () => {
    const queue = new AsyncQueue<string>();
    queue.push("a");
    queue.end(new Error("worker gone"));
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const s of queue) seen.push(s);
      })(),
    ).rejects.toThrow("worker gone");
    expect(seen).toEqual(["a"]);
  });

  it("rejects a waiting consumer when ended with an error, and tells the producer when the consumer leaves", async () => {
    let left = 0;
    const queue = new AsyncQueue<number>(() => left++);
    const waiting = (async () => {
      for await (const _ of queue) {
      }
    })();
    await Promise.resolve();
    queue.end(new Error("cut"));
    await expect(waiting).rejects.toThrow("cut");

    const early = new AsyncQueue<number>(() => left++);
    early.push(1);
    early.push(2);
    for await (const _ of early) break;
    expect(left).toBe(1);
  });
});
