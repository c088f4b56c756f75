import { describe, expect, it } from "vitest";
import { advertisedStreams } from "./zmq-discovery.js";

describe("advertisedStreams", () => {
  it("pairs each rank's endpoint with its replay endpoint", () => {
    const record = {
      address: "http://127.0.0.1:1",
      metadata: {
        zmq_kv_events_endpoints: "tcp://127.0.0.1:5557,tcp://127.0.0.1:5558",
        zmq_kv_events_replay_endpoints: "tcp://127.0.0.1:5560",
      },
    };
    expect(advertisedStreams(record)).toEqual([
      { endpoint: "tcp://127.0.0.1:5557", replayEndpoint: "tcp://127.0.0.1:5560" },
      { endpoint: "tcp://127.0.0.1:5558" },
    ]);
  });

  it("finds none in records without them", () => {
    expect(advertisedStreams({ metadata: { model: "m" } })).toEqual([]);
    expect(advertisedStreams({ metadata: { zmq_kv_events_endpoints: "" } })).toEqual([]);
    expect(advertisedStreams(null)).toEqual([]);
    expect(advertisedStreams("x")).toEqual([]);
  });
});
