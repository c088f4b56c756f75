// Where the transfer engine's TCP server listens and what its descriptors tell peers to dial.
import { randomFillSync } from "node:crypto";
import { networkInterfaces } from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { TransferEngine } from "../src/transfer.js";

/** An IPv4 address of this host other than loopback, when it has one. */
function externalIPv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}

describe("TransferEngine.listen", () => {
  const engines: TransferEngine[] = [];
  const engine = (): TransferEngine => {
    const e = new TransferEngine({ threads: 1 });
    engines.push(e);
    return e;
  };
  afterAll(() => {
    for (const e of engines) e.close();
  });

  it("binds every interface on 0.0.0.0 and advertises the address peers dial", async () => {
    const owner = engine();
    const address = externalIPv4() ?? "127.0.0.1";
    const port = owner.listen(0, { host: "0.0.0.0", advertise: address });
    const remote = owner.registerMemory(randomFillSync(new Uint8Array(8192)));
    const d = owner.describe(remote);
    expect(d.tcp).toEqual({ address, port });
    const reader = engine();
    const local = reader.registerMemory(new Uint8Array(8192));
    await reader.read(local, d, { localOffset: 0, remoteOffset: 0, length: 8192 }, { transport: "tcp" });
    expect(Buffer.from(local.bytes).equals(Buffer.from(remote.bytes))).toBe(true);
    // Loopback reaches the wildcard bind too.
    const viaLoopback = { ...d, tcp: { address: "127.0.0.1", port } };
    local.bytes.fill(0);
    await reader.read(
      local,
      viaLoopback,
      { localOffset: 0, remoteOffset: 0, length: 8192 },
      { transport: "tcp" },
    );
    expect(Buffer.from(local.bytes).equals(Buffer.from(remote.bytes))).toBe(true);
  });

  it("keeps 127.0.0.1 by default and refuses a bind address that is not IPv4", () => {
    const e = engine();
    const port = e.listen();
    expect(e.describe(e.registerMemory(new Uint8Array(1))).tcp).toEqual({ address: "127.0.0.1", port });
    expect(() => engine().listen(0, { host: "not-an-address" })).toThrow(/not an IPv4 address/);
  });
});
