import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomFillSync } from "node:crypto";
import { existsSync } from "node:fs";
import { hostname } from "node:os";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadAddon } from "../src/addon.js";
import { type RegionDescriptor, TransferEngine } from "../src/transfer.js";

const MiB = 1024 * 1024;
// 1 B to 256 MiB; odd sizes catch off-by-one chunking.
const SIZES = [1, 7, 4096 + 3, 64 * 1024, MiB + 17, 16 * MiB, 256 * MiB];

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function random(size: number): Uint8Array {
  const b = new Uint8Array(size);
  for (let o = 0; o < size; o += 64 * 1024) randomFillSync(b, o, Math.min(64 * 1024, size - o));
  return b;
}

describe("TransferEngine", () => {
  const owner = new TransferEngine({ threads: 2 });
  const client = new TransferEngine({ threads: 2 });
  owner.listen(0);
  afterAll(() => {
    owner.close();
    client.close();
  });

  for (const transport of ["shm", "tcp"] as const) {
    it(`moves ${SIZES.length} sizes up to 256 MiB over ${transport} with matching checksums`, async () => {
      for (const size of SIZES) {
        // The owner's region is a shared-memory file so both transports can reach it.
        const remote = owner.registerShm({ size });
        const src = client.registerMemory(random(size));
        await client.write(
          src,
          owner.describe(remote),
          { localOffset: 0, remoteOffset: 0, length: size },
          { transport },
        );
        expect(sha256(remote.bytes)).toBe(sha256(src.bytes));
        // And back: fresh random remote contents read into a zeroed local region.
        randomFillSync(remote.bytes, 0, Math.min(size, 64 * 1024));
        const dst = client.registerMemory(new Uint8Array(size));
        await client.read(
          dst,
          owner.describe(remote),
          { localOffset: 0, remoteOffset: 0, length: size },
          { transport },
        );
        expect(sha256(dst.bytes)).toBe(sha256(remote.bytes));
        await client.deregister(src);
        await client.deregister(dst);
        await owner.deregister(remote);
        expect(existsSync(remote.shmPath ?? "")).toBe(false);
      }
    });
  }

  it("scatters and gathers several segments in one call, from SharedArrayBuffer memory", async () => {
    const remote = owner.registerMemory(random(3 * MiB));
    const local = client.registerMemory(new SharedArrayBuffer(3 * MiB));
    const segments = [
      { localOffset: 0, remoteOffset: 2 * MiB, length: MiB },
      { localOffset: MiB, remoteOffset: 5, length: 1000 },
      { localOffset: 2 * MiB, remoteOffset: MiB, length: MiB },
    ];
    await client.read(local, owner.describe(remote), segments, { transport: "tcp", streams: 3 });
    for (const s of segments) {
      expect(sha256(local.bytes.subarray(s.localOffset, s.localOffset + s.length))).toBe(
        sha256(remote.bytes.subarray(s.remoteOffset, s.remoteOffset + s.length)),
      );
    }
  });

  it("rejects a shared-memory descriptor whose file is gone", async () => {
    const remote = owner.registerShm({ size: 4096 });
    const local = client.registerMemory(new Uint8Array(4096));
    const d = owner.describe(remote);
    const seg = { localOffset: 0, remoteOffset: 0, length: 4096 };
    await client.read(local, d, seg, { transport: "shm" });
    await owner.deregister(remote);
    await expect(client.read(local, d, seg, { transport: "shm" })).rejects.toThrow(
      /cannot open shared memory/,
    );
  });

  it("copies between two regions of one engine", async () => {
    const a = owner.registerMemory(random(MiB));
    const b = owner.registerMemory(new Uint8Array(MiB));
    await owner.read(b, owner.describe(a), { localOffset: 0, remoteOffset: 0, length: MiB });
    expect(Buffer.compare(a.bytes, b.bytes)).toBe(0);
  });

  it("rejects out-of-range, unknown and deregistered regions without crashing", async () => {
    const remote = owner.registerMemory(new Uint8Array(1024));
    const local = client.registerMemory(new Uint8Array(4096));
    const d = owner.describe(remote);
    const seg = { localOffset: 0, remoteOffset: 1000, length: 100 };
    await expect(client.read(local, d, seg, { transport: "tcp" })).rejects.toThrow(/outside the region/);
    await expect(client.read(local, d, { localOffset: 4000, remoteOffset: 0, length: 100 })).rejects.toThrow(
      /local range is outside/,
    );
    const ghost: RegionDescriptor = { ...d, region: 9999 };
    await expect(client.read(local, ghost, { localOffset: 0, remoteOffset: 0, length: 8 })).rejects.toThrow(
      /not registered/,
    );
    await owner.deregister(remote);
    await expect(client.read(local, d, { localOffset: 0, remoteOffset: 0, length: 8 })).rejects.toThrow(
      /not registered/,
    );
    const noPeer: RegionDescriptor = {
      ...d,
      engine: "gone",
      host: hostname(),
      tcp: { address: "127.0.0.1", port: 1 },
    };
    await expect(client.read(local, noPeer, { localOffset: 0, remoteOffset: 0, length: 8 })).rejects.toThrow(
      /cannot connect/,
    );
  });

  it("rejects pending transfers when the peer process is killed", async () => {
    const addon = loadAddon();
    if (!addon.ok) throw new Error(addon.reason);
    const size = 64 * MiB;
    const peer: ChildProcess = spawn(
      process.execPath,
      [fileURLToPath(new URL("./fixtures/transfer-peer.mjs", import.meta.url)), String(size)],
      { env: { ...process.env, KVASIR_NATIVE_ADDON: addon.path }, stdio: ["ignore", "pipe", "inherit"] },
    );
    try {
      const line = await new Promise<string>((resolve, reject) => {
        peer.once("exit", (code) => reject(new Error(`peer exited early (${code})`)));
        createInterface({ input: peer.stdout as NodeJS.ReadableStream }).once("line", resolve);
      });
      const info = JSON.parse(line) as { port: number; region: number };
      const d: RegionDescriptor = {
        v: 1,
        engine: "peer",
        host: hostname(),
        region: info.region,
        size,
        tcp: { address: "127.0.0.1", port: info.port },
      };
      const local = client.registerMemory(new Uint8Array(size));
      // A stopped peer accepts connections (the kernel does) but never answers, so both transfers stay pending.
      peer.kill("SIGSTOP");
      const reading = client.read(
        local,
        d,
        { localOffset: 0, remoteOffset: 0, length: size },
        { streams: 2 },
      );
      const writing = client.write(
        local,
        d,
        { localOffset: 0, remoteOffset: 0, length: size },
        { streams: 2 },
      );
      let settled = false;
      void Promise.allSettled([reading, writing]).then(() => {
        settled = true;
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(settled).toBe(false);
      peer.kill("SIGKILL");
      // Streams that were talking to the peer lose their connection; streams still queued cannot connect.
      await expect(reading).rejects.toThrow(/connection to 127\.0\.0\.1:\d+ lost|cannot connect/);
      await expect(writing).rejects.toThrow(/connection to 127\.0\.0\.1:\d+ lost|cannot connect/);
    } finally {
      peer.kill("SIGKILL");
    }
  });
});
