// Holder and puller over one host's shared memory (no sockets); the TCP path is in test/disagg.test.ts.
import { TransferEngine } from "@kvasir/native";
import { afterAll, describe, expect, it } from "vitest";
import { KvHolder } from "./kv-holder.js";
import { KvPullError, KvPuller, segmentsOf } from "./kv-puller.js";
import type { RemoteKv } from "./transfer-params.js";

const identity = { engineId: "p", host: "10.0.0.1", port: 1, releaseUrl: "http://p" };

describe("segmentsOf", () => {
  it("merges runs of consecutive block ids into one copy each", () => {
    expect(segmentsOf([0, 1, 2, 7, 8, 4], 10)).toEqual([
      { localOffset: 0, remoteOffset: 0, length: 30 },
      { localOffset: 30, remoteOffset: 70, length: 20 },
      { localOffset: 50, remoteOffset: 40, length: 10 },
    ]);
    expect(segmentsOf([], 10)).toEqual([]);
  });
});

describe("KvHolder and KvPuller", () => {
  const prefill = new TransferEngine({ threads: 1 });
  const decode = new TransferEngine({ threads: 1 });
  afterAll(() => {
    prefill.close();
    decode.close();
  });
  const changes: number[] = [];
  const releases: Array<[string, string, number]> = [];
  const holder = new KvHolder(prefill, {
    bytesPerBlock: 4096,
    blockSize: 16,
    leaseMs: 60_000,
    onChange: (n) => changes.push(n),
    onRelease: (id, reason, blocks) => releases.push([id, reason, blocks]),
  });
  const released: string[] = [];
  const puller = new KvPuller(decode, {
    selfHost: identity.host,
    timeoutMs: 5000,
    release: async (url, requestId) => {
      released.push(`${url} ${requestId}`);
      holder.release(requestId, "released");
    },
  });

  it("holds distinct blocks, pulls them over shared memory with matching checksums, and releases", async () => {
    const held = holder.hold("r1", 40);
    expect(held.blockIds).toEqual([0, 1, 2]);
    expect(new Set(held.checksums).size).toBe(3);
    expect(holder.blocks).toBe(3);
    const result = await puller.pull({ ...held, ...identity }, new AbortController().signal);
    expect(result).toMatchObject({ bytes: 3 * 4096, blocks: 3, transport: "shm" });
    expect(result.seconds).toBeGreaterThan(0);
    expect(released).toEqual(["http://p r1"]);
    expect(holder.blocks).toBe(0);
    expect(changes).toEqual([3, 0]);
    expect(releases).toEqual([["r1", "released", 3]]);
  });

  it("fails with 'checksum' when a block differs, and still releases", async () => {
    const held = holder.hold("r2", 16);
    const remote: RemoteKv = { ...held, ...identity, checksums: ["0000000000000000"] };
    await expect(puller.pull(remote, new AbortController().signal)).rejects.toMatchObject({
      reason: "checksum",
      message: expect.stringMatching(/block 0 arrived with checksum/),
    });
    expect(holder.has("r2")).toBe(false);
  });

  it("fails once the blocks were freed (their bytes scrambled), and with 'unreachable' on another host without TCP", async () => {
    const held = holder.hold("r3", 16);
    holder.release("r3", "lease_expired");
    const error = await puller.pull({ ...held, ...identity }, new AbortController().signal).catch((e) => e);
    expect(error).toBeInstanceOf(KvPullError);
    expect(error.reason).toBe("checksum");
    const other = holder.hold("r4", 16);
    await expect(
      puller.pull({ ...other, ...identity, host: "10.9.9.9" }, new AbortController().signal),
    ).rejects.toMatchObject({ reason: "unreachable" });
    expect(releases.at(-1)).toEqual(["r4", "released", 1]);
  });

  it("reuses freed regions and pull buffers, with new bytes for every hold", async () => {
    const first = holder.hold("u1", 64);
    await puller.pull({ ...first, ...identity }, new AbortController().signal);
    const pooled = holder.pooledBytes;
    expect(pooled).toBeGreaterThanOrEqual(4 * 4096);
    expect(puller.pooledBytes).toBeGreaterThanOrEqual(4 * 4096);
    const second = holder.hold("u2", 60);
    // Same region (same size class), fresh headers: different checksums.
    expect(second.region.region).toBe(first.region.region);
    expect(second.checksums).not.toEqual(first.checksums);
    expect(holder.pooledBytes).toBe(pooled - second.region.size);
    await expect(
      puller.pull({ ...second, ...identity }, new AbortController().signal),
    ).resolves.toMatchObject({
      blocks: 4,
    });
  });

  it("keeps held and reserved bytes within maxHeldBytes", () => {
    const capped = new KvHolder(prefill, {
      bytesPerBlock: 1024,
      blockSize: 16,
      leaseMs: 60_000,
      maxHeldBytes: 4096,
    });
    expect(capped.reserve("a", 48)).toBe(true); // 3 blocks
    expect(capped.reserve("b", 32)).toBe(false); // 3 + 2 > 4
    expect(capped.reserve("b", 16)).toBe(true);
    capped.hold("a", 48);
    expect(capped.reserve("c", 1)).toBe(false);
    capped.unreserve("b");
    expect(capped.reserve("c", 1)).toBe(true);
    capped.release("a", "released");
    expect(capped.reserve("d", 48)).toBe(true);
    capped.close();
  });

  it("frees held blocks when the lease runs out, and a new hold of the same id replaces the old", async () => {
    const short = new KvHolder(prefill, {
      bytesPerBlock: 1024,
      blockSize: 16,
      leaseMs: 20,
      maxPooledBytes: 0,
    });
    short.hold("a", 17);
    short.hold("a", 1);
    expect(short.blocks).toBe(1);
    await new Promise((r) => setTimeout(r, 60));
    expect(short.blocks).toBe(0);
    expect(short.release("a", "released")).toBe(0);
  });
});
