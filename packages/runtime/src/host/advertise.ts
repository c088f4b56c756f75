import { networkInterfaces } from "node:os";

/** Bind addresses that mean "every interface": advertising them would tell peers nothing they can dial. */
const WILDCARDS = new Set(["", "0.0.0.0", "::", "[::]"]);

export function isWildcardHost(host: string): boolean {
  return WILDCARDS.has(host);
}

type Interfaces = ReturnType<typeof networkInterfaces>;

/**
 * The first non-internal IPv4 address of this host (IPv6 when it has no IPv4), in interface order; undefined
 * when the host has only loopback. This is what a wildcard bind advertises.
 */
export function primaryHostAddress(interfaces: Interfaces = networkInterfaces()): string | undefined {
  let ipv6: string | undefined;
  for (const addresses of Object.values(interfaces)) {
    for (const address of addresses ?? []) {
      if (address.internal) continue;
      if (address.family === "IPv4") return address.address;
      // Link-local IPv6 needs a zone id to dial; skip it.
      if (ipv6 === undefined && !address.address.toLowerCase().startsWith("fe80:")) ipv6 = address.address;
    }
  }
  return ipv6;
}

/**
 * The host other machines use to reach a server bound to `bindHost`: `--advertise-host` when given; for a
 * wildcard bind, the host's primary address (loopback only on a machine that has nothing else); else the bind
 * address itself.
 */
export function advertisedHost(
  bindHost: string,
  advertiseHost?: string,
  interfaces: Interfaces = networkInterfaces(),
): string {
  if (advertiseHost) return advertiseHost;
  if (!isWildcardHost(bindHost)) return bindHost;
  return primaryHostAddress(interfaces) ?? (bindHost.includes(":") ? "::1" : "127.0.0.1");
}

/** The address a process on this host dials to reach a server bound to `bindHost`. */
export function localHost(bindHost: string): string {
  if (!isWildcardHost(bindHost)) return bindHost;
  return bindHost.includes(":") ? "::1" : "127.0.0.1";
}

/** `http://host:port`, with IPv6 literals bracketed. */
export function httpUrl(host: string, port: number, scheme = "http"): string {
  const bare = host.replace(/^\[|\]$/g, "");
  return `${scheme}://${bare.includes(":") ? `[${bare}]` : bare}:${port}`;
}
