import { describe, expect, it } from "vitest";
import { offsetEndpoint, publisherBinds, subscriberBinds } from "./endpoints.js";

describe("endpoint rules", () => {
  it("offsets endpoints per dp rank as vLLM does", () => {
    expect(offsetEndpoint("tcp://*:5557", 0)).toBe("tcp://*:5557");
    expect(offsetEndpoint("tcp://*:5557", 2)).toBe("tcp://*:5559");
    expect(offsetEndpoint("tcp://127.0.0.1:0", 3)).toBe("tcp://127.0.0.1:0");
    expect(offsetEndpoint("inproc://kv", 1)).toBe("inproc://kv_dp1");
    expect(offsetEndpoint("ipc:///tmp/kv", 2)).toBe("ipc:///tmp/kv_dp2");
  });

  it("binds a publisher on wildcards, local transports and port 0, and connects it elsewhere", () => {
    expect(publisherBinds("tcp://*:5557")).toBe(true);
    expect(publisherBinds("ipc:///tmp/kv")).toBe(true);
    expect(publisherBinds("tcp://127.0.0.1:0")).toBe(true);
    expect(publisherBinds("tcp://10.0.0.1:5557")).toBe(false);
  });

  it("binds a subscriber only on wildcards", () => {
    expect(subscriberBinds("tcp://*:5557")).toBe(true);
    expect(subscriberBinds("tcp://[::]:5557")).toBe(true);
    expect(subscriberBinds("ipc:///tmp/kv")).toBe(false);
    expect(subscriberBinds("tcp://10.0.0.1:5557")).toBe(false);
  });
});
