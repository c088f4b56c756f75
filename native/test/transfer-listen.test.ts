// Where the transfer engine's TCP server listens and what its descriptors tell peers to dial; what deregistering
// does to copies in flight and to other engines' cached shared-memory mappings.
import { randomFillSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, type Socket } from "node:net";
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

/** How many times `path` is mapped into this process. */
function mappingsOf(path: string): number {
  return readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((line) => line.includes(path)).length;
}

describe("TransferEngine.deregister", () => {
  it("fails a TCP read blocked on a silent peer at once instead of holding it till the socket timeout", async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const reader = new TransferEngine({ threads: 1 });
    try {
      const local = reader.registerMemory(new Uint8Array(4096));
      const remote = { v: 1 as const, engine: "gone", host: "elsewhere", region: 1, size: 4096 };
      const read = reader.read(
        local,
        { ...remote, tcp: { address: "127.0.0.1", port } },
        { localOffset: 0, remoteOffset: 0, length: 4096 },
      );
      const outcome = read.then(
        () => "resolved",
        (e: Error) => e.message,
      );
      while (sockets.length === 0) await new Promise((r) => setTimeout(r, 5));
      const started = performance.now();
      await reader.deregister(local);
      expect(await outcome).toMatch(/lost|deregistered/);
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      reader.close();
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("lets a reader drop its mapping of a removed shared-memory file at its next mapping", async () => {
    const owner = new TransferEngine({ threads: 1 });
    const reader = new TransferEngine({ threads: 1 });
    try {
      const first = owner.registerShm({ size: 8192 });
      const second = owner.registerShm({ size: 8192 });
      const path = first.shmPath ?? "";
      const local = reader.registerMemory(new Uint8Array(8192));
      const all = { localOffset: 0, remoteOffset: 0, length: 8192 };
      await reader.read(local, owner.describe(first), all, { transport: "shm" });
      const before = mappingsOf(path);
      expect(before).toBeGreaterThanOrEqual(2);
      await owner.deregister(first);
      await reader.read(local, owner.describe(second), all, { transport: "shm" });
      expect(mappingsOf(path)).toBe(before - 1);
    } finally {
      owner.close();
      reader.close();
    }
  });
});
