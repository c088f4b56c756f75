import type { networkInterfaces } from "node:os";
import { describe, expect, it } from "vitest";
import { advertisedHost, httpUrl, isWildcardHost, primaryHostAddress } from "./advertise.js";

type Interfaces = ReturnType<typeof networkInterfaces>;

const nic = (address: string, family: "IPv4" | "IPv6", internal = false) =>
  ({ address, family, internal, netmask: "", mac: "", cidr: null }) as never;

const twoNics: Interfaces = {
  lo: [nic("127.0.0.1", "IPv4", true), nic("::1", "IPv6", true)],
  eth0: [nic("fe80::1", "IPv6"), nic("10.1.2.3", "IPv4")],
  eth1: [nic("192.168.7.9", "IPv4")],
};

describe("advertisedHost", () => {
  it("advertises the primary non-loopback address for a wildcard bind", () => {
    expect(advertisedHost("0.0.0.0", undefined, twoNics)).toBe("10.1.2.3");
    expect(advertisedHost("::", undefined, twoNics)).toBe("10.1.2.3");
  });

  it("prefers --advertise-host over everything", () => {
    expect(advertisedHost("0.0.0.0", "worker-0.svc", twoNics)).toBe("worker-0.svc");
    expect(advertisedHost("127.0.0.1", "10.9.9.9", twoNics)).toBe("10.9.9.9");
  });

  it("advertises a specific bind address as it is", () => {
    expect(advertisedHost("192.168.7.9", undefined, twoNics)).toBe("192.168.7.9");
  });

  it("falls back to loopback only when the host has nothing else", () => {
    const loopbackOnly: Interfaces = { lo: [nic("127.0.0.1", "IPv4", true)] };
    expect(advertisedHost("0.0.0.0", undefined, loopbackOnly)).toBe("127.0.0.1");
    expect(primaryHostAddress(loopbackOnly)).toBeUndefined();
  });

  it("uses a global IPv6 address when there is no IPv4, never a link-local one", () => {
    const v6: Interfaces = { eth0: [nic("fe80::2", "IPv6"), nic("2001:db8::5", "IPv6")] };
    expect(primaryHostAddress(v6)).toBe("2001:db8::5");
  });
});

describe("httpUrl", () => {
  it("brackets IPv6 literals once", () => {
    expect(httpUrl("2001:db8::5", 80)).toBe("http://[2001:db8::5]:80");
    expect(httpUrl("[::1]", 80)).toBe("http://[::1]:80");
    expect(httpUrl("10.0.0.1", 9, "https")).toBe("https://10.0.0.1:9");
  });

  it("knows the wildcards", () => {
    expect(isWildcardHost("0.0.0.0")).toBe(true);
    expect(isWildcardHost("10.0.0.1")).toBe(false);
  });
});
