import { type NatsServer, startNatsServer, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEventPlane, type EventMessage, type EventPlane } from "../src/index.js";

let nats: NatsServer;
let publisher: EventPlane;
let subscriber: EventPlane;

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

beforeAll(async () => {
  nats = await startNatsServer();
  publisher = await createEventPlane({ backend: "nats", natsServers: nats.url });
  subscriber = await createEventPlane({ backend: "nats", natsServers: nats.url });
});

afterAll(async () => {
  await publisher?.close();
  await subscriber?.close();
  await nats?.stop();
});

describe("nats event plane", () => {
  it("delivers across connections with headers and wildcards", async () => {
    const exact: EventMessage[] = [];
    const star: string[] = [];
    const tail: string[] = [];
    const subs = [
      subscriber.subscribe("kvasir.ns.backend.kv_events", (m) => exact.push(m)),
      subscriber.subscribe("kvasir.*.*.kv_events", (m) => star.push(text(m.data))),
      subscriber.subscribe("kvasir.ns.>", (m) => tail.push(m.subject)),
    ];
    await subscriber.flush();
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    publisher.publish("kvasir.ns.backend.kv_events", bytes("one"), { traceparent, "X-Kvasir-Worker": "01" });
    publisher.publish("kvasir.ns.backend.load_metrics", bytes("two"));
    publisher.publish("kvasir.other.decode.kv_events", bytes("three"));
    await publisher.flush();
    await waitFor(() => exact.length === 1 && star.length === 2 && tail.length === 2);
    expect(exact[0]?.subject).toBe("kvasir.ns.backend.kv_events");
    expect(text(exact[0]?.data ?? new Uint8Array())).toBe("one");
    expect(exact[0]?.headers).toEqual({ traceparent, "X-Kvasir-Worker": "01" });
    expect(star).toEqual(["one", "three"]);
    expect(tail).toEqual(["kvasir.ns.backend.kv_events", "kvasir.ns.backend.load_metrics"]);
    for (const sub of subs) sub.unsubscribe();
  });

  it("delivers binary payloads intact and nothing after unsubscribe", async () => {
    const got: Uint8Array[] = [];
    const sub = subscriber.subscribe("bin.a", (m) => got.push(m.data));
    await subscriber.flush();
    const payload = Uint8Array.from({ length: 300 }, (_, i) => i % 256);
    publisher.publish("bin.a", payload);
    await publisher.flush();
    await waitFor(() => got.length === 1);
    expect(Array.from(got[0] ?? [])).toEqual(Array.from(payload));
    sub.unsubscribe();
    // A second subscriber on the same subject shows when the next message has arrived.
    const marker: Uint8Array[] = [];
    subscriber.subscribe("bin.a", (m) => marker.push(m.data));
    await subscriber.flush();
    publisher.publish("bin.a", payload);
    await publisher.flush();
    await waitFor(() => marker.length === 1);
    expect(got).toHaveLength(1);
  });
});
