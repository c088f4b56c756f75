import { describe, expect, it } from "vitest";
import {
  advertiseFlags,
  advertiseHostFromFlags,
  drainFlags,
  serverFlags,
  statusFlags,
  systemPortFromFlags,
} from "./flag-fragments.js";
import { defineFlags } from "./flags.js";

const all = defineFlags({
  ...serverFlags.defs,
  ...statusFlags.defs,
  ...drainFlags.defs,
  ...advertiseFlags.defs,
});

describe("flag fragments", () => {
  it("default to loopback, a free port, no status server, 30 s drain and no advertised host", () => {
    const values = all.parse([], {});
    expect(values).toEqual({ host: "127.0.0.1", port: 0, "drain-timeout": 30 });
    expect(systemPortFromFlags(values)).toBeUndefined();
    expect(advertiseHostFromFlags(values)).toBeUndefined();
  });

  it("take the status port from --system-port or DYN_SYSTEM_PORT, with Dynamo's -1 meaning off", () => {
    expect(systemPortFromFlags(all.parse([], { DYN_SYSTEM_PORT: "8081" }))).toBe(8081);
    expect(systemPortFromFlags(all.parse(["--system-port", "0"], { DYN_SYSTEM_PORT: "8081" }))).toBe(0);
    expect(systemPortFromFlags(all.parse([], { DYN_SYSTEM_PORT: "-1" }))).toBeUndefined();
    expect(() => all.parse(["--system-port", "65536"], {})).toThrow(/--system-port must be at most 65535/);
    expect(() => all.parse([], { DYN_SYSTEM_PORT: "http" })).toThrow(/DYN_SYSTEM_PORT/);
  });

  it("take the advertised host from --advertise-host or Dynamo's DYN_TCP_RPC_HOST", () => {
    expect(advertiseHostFromFlags(all.parse([], { DYN_TCP_RPC_HOST: "10.0.0.7" }))).toBe("10.0.0.7");
    expect(advertiseHostFromFlags(all.parse([], { DYN_HTTP_RPC_HOST: "10.0.0.8" }))).toBe("10.0.0.8");
    expect(
      advertiseHostFromFlags(all.parse(["--advertise-host", "node-1"], { DYN_TCP_RPC_HOST: "10.0.0.7" })),
    ).toBe("node-1");
  });

  it("reject ports out of range and negative drain timeouts", () => {
    expect(() => all.parse(["--port", "-2"], {})).toThrow(/--port must be at least 0/);
    expect(() => all.parse(["--drain-timeout", "-1"], {})).toThrow(/--drain-timeout/);
  });
});
