import { describe, expect, it } from "vitest";
import { MemoryEventPlane } from "./memory.js";
import type { EventMessage } from "./types.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

describe("memory event plane", () => {
  it("delivers in publish order, with headers and wildcards, within its own instance only", async () => {
    const publisher = new MemoryEventPlane();
    const subscriber = publisher;
    const elsewhere: string[] = [];
    const separate = new MemoryEventPlane();
    separate.subscribe("e1.>", (m) => elsewhere.push(m.subject));
    const exact: EventMessage[] = [];
    const star: string[] = [];
    const tail: string[] = [];
    subscriber.subscribe("e1.ns.backend.kv_events", (m) => exact.push(m));
    subscriber.subscribe("e1.*.*.kv_events", (m) => star.push(text(m.data)));
    subscriber.subscribe("e1.>", (m) => tail.push(m.subject));
    publisher.publish("e1.ns.backend.kv_events", bytes("one"), { traceparent: "00-abc-def-01" });
    publisher.publish("e1.ns.backend.load_metrics", bytes("two"));
    publisher.publish("e1.ns.decode.kv_events", bytes("three"));
    publisher.publish("e2.ns.backend.kv_events", bytes("elsewhere"));
    // Delivery is asynchronous, as over NATS.
    expect(exact).toHaveLength(0);
    await publisher.flush();
    expect(exact.map((m) => [m.subject, text(m.data), m.headers])).toEqual([
      ["e1.ns.backend.kv_events", "one", { traceparent: "00-abc-def-01" }],
    ]);
    expect(star).toEqual(["one", "three"]);
    expect(tail).toEqual(["e1.ns.backend.kv_events", "e1.ns.backend.load_metrics", "e1.ns.decode.kv_events"]);
    expect(elsewhere).toEqual([]);
    await publisher.close();
    await separate.close();
  });

  it("stops delivering after unsubscribe and after close", async () => {
    const plane = new MemoryEventPlane();
    const seen: string[] = [];
    const sub = plane.subscribe("e3.a", (m) => seen.push(text(m.data)));
    plane.subscribe("e3.a", (m) => seen.push(`other ${text(m.data)}`));
    plane.publish("e3.a", bytes("1"));
    await plane.flush();
    sub.unsubscribe();
    plane.publish("e3.a", bytes("2"));
    await plane.flush();
    await plane.close();
    plane.publish("e3.a", bytes("3"));
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(seen).toEqual(["1", "other 1", "other 2"]);
  });

  it("keeps delivering to other subscribers when a handler throws", async () => {
    const plane = new MemoryEventPlane();
    const seen: string[] = [];
    const stderr = process.stderr.write;
    const reported: string[] = [];
    process.stderr.write = ((chunk: string) =>
      reported.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      plane.subscribe("e4.a", () => {
        throw new Error("boom");
      });
      plane.subscribe("e4.a", (m) => seen.push(text(m.data)));
      plane.publish("e4.a", bytes("x"));
      await plane.flush();
    } finally {
      process.stderr.write = stderr;
    }
    expect(seen).toEqual(["x"]);
    expect(reported.join("")).toMatch(/event handler failed.*boom/);
    await plane.close();
  });

  it("rejects wildcards in published subjects and malformed patterns", async () => {
    const plane = new MemoryEventPlane();
    expect(() => plane.publish("e5.*", bytes("x"))).toThrow(/wildcards/);
    expect(() => plane.subscribe("e5..a", () => {})).toThrow(/invalid subject/);
    await plane.close();
  });
});
