import { describe, expect, it } from "vitest";
import { streamsFromMetadata, streamsMetadata } from "./metadata.js";

describe("advertised ZMQ streams", () => {
  it("round-trips endpoints and replay endpoints per dp rank", () => {
    const metadata = streamsMetadata(["tcp://a:1", "tcp://a:2"], ["tcp://a:3", "tcp://a:4"]);
    expect(streamsFromMetadata({ model: "m", ...metadata })).toEqual([
      { endpoint: "tcp://a:1", replayEndpoint: "tcp://a:3" },
      { endpoint: "tcp://a:2", replayEndpoint: "tcp://a:4" },
    ]);
  });

  it("advertises streams without replay, and nothing for absent or odd fields", () => {
    expect(streamsFromMetadata(streamsMetadata(["tcp://a:1"], []))).toEqual([{ endpoint: "tcp://a:1" }]);
    expect(streamsFromMetadata({})).toEqual([]);
    expect(streamsFromMetadata({ zmq_kv_events_endpoints: 7 })).toEqual([]);
  });
});
