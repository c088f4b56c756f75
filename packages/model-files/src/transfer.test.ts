import { describe, expect, it } from "vitest";
import { providerOrder } from "./chunks.js";
import { diskError, ModelFilesError } from "./errors.js";
import { FileHasher, sha256Hex } from "./hash.js";
import { chunkRanges, isTokenizerFile } from "./manifest.js";
import { parseRange } from "./peer-server.js";
import { formatBytes, ProgressLog, progressOf } from "./progress.js";

describe("chunks and ranges", () => {
  it("splits a file into chunks whose hashes the hasher computes", () => {
    expect(chunkRanges(10, 4)).toEqual([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
    expect(chunkRanges(0, 4)).toEqual([]);
    const data = new Uint8Array(10).map((_, i) => i);
    const hasher = new FileHasher(10, 4, { gitSha1: true });
    hasher.update(data.subarray(0, 3));
    hasher.update(data.subarray(3));
    const digest = hasher.digest();
    expect(digest.sha256).toBe(sha256Hex(data));
    expect(digest.chunkSha256).toEqual([
      sha256Hex(data.subarray(0, 4)),
      sha256Hex(data.subarray(4, 8)),
      sha256Hex(data.subarray(8)),
    ]);
    expect(digest.gitSha1).toMatch(/^[0-9a-f]{40}$/);
  });

  it("parses HTTP ranges", () => {
    expect(parseRange(undefined, 100)).toBeUndefined();
    expect(parseRange("bytes=0-9", 100)).toEqual([0, 10]);
    expect(parseRange("bytes=90-", 100)).toEqual([90, 100]);
    expect(parseRange("bytes=-10", 100)).toEqual([90, 100]);
    expect(parseRange("bytes=95-200", 100)).toEqual([95, 100]);
    expect(parseRange("bytes=100-", 100)).toBe("invalid");
    expect(parseRange("items=1-2", 100)).toBe("invalid");
  });

  it("spreads chunks over peers and keeps the server last", () => {
    const peers = ["a", "b", "c"].map((name) => ({ name, kind: "peer" as const }));
    const server = { name: "s", kind: "server" as const };
    expect(providerOrder([...peers, server], 0).map((p) => p.name)).toEqual(["a", "b", "c", "s"]);
    expect(providerOrder([...peers, server], 4).map((p) => p.name)).toEqual(["b", "c", "a", "s"]);
    expect(providerOrder([server], 7).map((p) => p.name)).toEqual(["s"]);
  });

  it("knows a frontend's files", () => {
    expect(isTokenizerFile("tokenizer.json")).toBe(true);
    expect(isTokenizerFile("chat_template.jinja")).toBe(true);
    expect(isTokenizerFile("model-00001-of-00002.safetensors")).toBe(false);
    expect(isTokenizerFile("sub/tokenizer.json")).toBe(false);
  });
});

describe("progress and errors", () => {
  it("reports bytes, rate and ETA", () => {
    expect(progressOf(50, 100, 1000)).toEqual({ bytes: 50, total: 100, rate: 50, etaSeconds: 1 });
    expect(progressOf(0, 100, 0).etaSeconds).toBeUndefined();
    expect(formatBytes(3 * 1024 * 1024)).toBe("3.0 MiB");
    const lines: Array<Record<string, unknown>> = [];
    let now = 0;
    const log = { info: (_m: string, f?: Record<string, unknown>) => lines.push(f ?? {}), warn() {} };
    const progress = new ProgressLog(log, "downloading", 1000, {}, 5000, () => now);
    now = 1000;
    progress.add(100);
    expect(lines).toHaveLength(0);
    now = 6000;
    progress.add(200);
    expect(lines[0]).toMatchObject({ bytes: 300, total_bytes: 1000, eta_seconds: 14 });
    progress.done();
    expect(lines).toHaveLength(2);
  });

  it("turns a full disk into a clear error", () => {
    const full = Object.assign(new Error("no space"), { code: "ENOSPC" });
    const mapped = diskError(full, "/cache/blobs/x");
    expect(mapped).toBeInstanceOf(ModelFilesError);
    expect(mapped).toMatchObject({ code: "disk_full", message: "disk full while writing /cache/blobs/x" });
    const other = new Error("other");
    expect(diskError(other, "/x")).toBe(other);
  });
});
