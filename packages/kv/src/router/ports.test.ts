import { describe, expect, it } from "vitest";
import { encodeKvEventBatch, type KvCacheEvent, storedFromTokens } from "../events.js";
import type { ActiveSequenceUpdate } from "./active.js";
import { activeSequencesSubject, kvEventSourceOver, type PubSubPlane, replicaSyncOver } from "./ports.js";

/** A one-process plane with exact subjects. */
function plane(): PubSubPlane {
  const subs = new Map<string, Set<(msg: { data: Uint8Array }) => void>>();
  return {
    publish(subject, data) {
      for (const h of subs.get(subject) ?? []) h({ data });
    },
    subscribe(subject, handler) {
      const set = subs.get(subject) ?? new Set();
      subs.set(subject, set);
      set.add(handler);
      return { unsubscribe: () => set.delete(handler) };
    },
  };
}

describe("router ports", () => {
  it("decodes KV event batches and counts malformed ones", () => {
    const p = plane();
    let malformed = 0;
    const got: KvCacheEvent[] = [];
    const stop = kvEventSourceOver(p, ["a", "b"], () => malformed++).subscribe((evs) => got.push(...evs));
    const ev: KvCacheEvent = {
      workerId: 7n,
      dpRank: 1,
      eventId: 3n,
      data: storedFromTokens([1, 2, 3, 4], 4),
    };
    p.publish("b", encodeKvEventBatch([ev]));
    p.publish("a", new Uint8Array([0xff, 0xff, 0xff]));
    expect(got.map((e) => [e.workerId, e.dpRank, e.eventId, e.data.kind])).toEqual([[7n, 1, 3n, "stored"]]);
    expect(malformed).toBe(1);
    stop();
    p.publish("b", encodeKvEventBatch([ev]));
    expect(got.length).toBe(1);
  });

  it("carries active-sequence updates as JSON and drops garbage", () => {
    const p = plane();
    const subject = activeSequencesSubject("ns");
    expect(subject).toBe("kvasir.ns.router.active_sequences");
    const got: unknown[] = [];
    replicaSyncOver(p, subject).subscribe((u) => got.push(u));
    const update: ActiveSequenceUpdate = { type: "free", requestId: "x" };
    replicaSyncOver(p, subject).publish(update);
    p.publish(subject, new TextEncoder().encode("{not json"));
    expect(got).toEqual([update]);
  });
});
