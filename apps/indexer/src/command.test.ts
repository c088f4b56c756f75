import { parseFlags } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import { indexerCommand, parseWorkerId } from "./command.js";

const parse = (...argv: string[]) =>
  indexerCommand.toConfig(parseFlags(indexerCommand.flags, argv, {}, indexerCommand.refused));

describe("kvasir indexer flags", () => {
  it("reads worker ids as printed hex, 0x-hex or decimal", () => {
    expect(parseWorkerId("00000000000000ff")).toBe(255n);
    expect(parseWorkerId("0xff")).toBe(255n);
    expect(parseWorkerId("255")).toBe(255n);
    expect(() => parseWorkerId("worker-1")).toThrow(/invalid worker id/);
  });

  it("pairs ZMQ endpoints with worker ids and replay endpoints by position", () => {
    const config = parse(
      "--zmq-endpoint",
      "tcp://127.0.0.1:5557",
      "tcp://127.0.0.1:5558",
      "--zmq-worker-id",
      "1",
      "2",
      "--zmq-replay-endpoint",
      "-",
      "tcp://127.0.0.1:5560",
    );
    expect(config.zmq.publishers).toEqual([
      { endpoint: "tcp://127.0.0.1:5557", workerId: 1n },
      { endpoint: "tcp://127.0.0.1:5558", workerId: 2n, replayEndpoint: "tcp://127.0.0.1:5560" },
    ]);
  });

  it("refuses an endpoint without a worker id", () => {
    expect(() => parse("--zmq-endpoint", "tcp://127.0.0.1:5557")).toThrow(/--zmq-worker-id/);
  });

  it("snapshots only with a Redis URL, under the namespace's key by default", () => {
    expect(parse().snapshot).toBeUndefined();
    const config = parse("--redis-url", "redis://127.0.0.1:6379", "--namespace", "ns1");
    expect(config.snapshot).toEqual({
      redisUrl: "redis://127.0.0.1:6379",
      key: "kvasir:ns1:indexer:snapshot",
      intervalEvents: 10000,
      intervalSeconds: 30,
    });
  });

  it("replays event-plane KV events from JetStream by default when the event plane is NATS", () => {
    const nats = ["--discovery-backend", "nats"];
    expect(parse(...nats).jetStream).toEqual({ maxAgeSeconds: 3600 });
    expect(parse(...nats, "--no-kv-events-jetstream").jetStream).toBeUndefined();
    expect(parse().jetStream).toBeUndefined();
    expect(parse("--event-plane", "memory", "--discovery-backend", "nats").jetStream).toBeUndefined();
  });

  it("serves status on --system-port like every app, and refuses the old --http-port naming it", () => {
    expect(parse("--system-port", "9200").systemPort).toBe(9200);
    expect(parse().systemPort).toBeUndefined();
    expect(parse().blockSize).toBe(16);
    expect(() => parse("--http-port", "9200")).toThrow(/--http-port is not supported: .*--system-port/);
  });
});
