// The service in-process against a hub fixture and S3 (s3rver): clear errors in Connect's shape, ReadFile
// ranges, resume of a client's interrupted file, the cache limit's LRU eviction, metrics.
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fetchThroughExpress, HfCache, ModelFilesError, sha256Hex } from "@kvasir/model-files";
import { type HubFixture, smallModel, startHubFixture } from "@kvasir/model-files/testing";
import { ModelExpressService } from "@kvasir/protocol";
import { createClient, runtimeConfigFromFlags } from "@kvasir/runtime";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ModelExpress, start } from "../src/server.js";

const A = smallModel(200_000, 1);
const B = smallModel(200_000, 2);
const size = (files: Record<string, Uint8Array>) => Object.values(files).reduce((n, d) => n + d.length, 0);

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return error instanceof ModelFilesError ? error.code : String(error);
  }
}

describe("ModelExpressService", () => {
  let dir: string;
  let hub: HubFixture;
  let server: ModelExpress;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvasir-mx-service-"));
    hub = await startHubFixture({
      "acme/a": { files: A },
      "acme/b": { files: B },
      "acme/gated": { files: A, gatedToken: "t" },
    });
    server = await start({
      runtime: runtimeConfigFromFlags({ "log-level": "warn" }),
      host: "127.0.0.1",
      port: 0,
      cacheDir: join(dir, "server"),
      source: hub.url,
      chunkSize: 32 * 1024,
      // Room for one model: the second evicts the first once neither is in use.
      cacheLimitBytes: Math.round(size(A) * 1.5),
      systemPort: 0,
      drainTimeoutSeconds: 1,
      env: {},
    });
  });

  afterAll(async () => {
    await server?.stop();
    await hub?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const fetchModel = (modelId: string, revision = "main", cacheName = "client") =>
    fetchThroughExpress({
      url: server.localUrl,
      modelId,
      revision,
      cache: new HfCache(join(dir, cacheName)),
    });

  it("serves a model in verified chunks and reads ranges", async () => {
    const result = await fetchModel("acme/a");
    expect(result.bytes.server).toBe(size(A));
    for (const [path, data] of Object.entries(A)) {
      expect(sha256Hex(await readFile(join(result.dir, path)))).toBe(sha256Hex(data));
    }
    const client = createClient(ModelExpressService, server.localUrl);
    const parts: Uint8Array[] = [];
    for await (const part of client.readFile({
      modelId: "acme/a",
      revision: result.manifest.revision,
      path: "model.safetensors",
      offset: 1000n,
      length: 5000n,
    })) {
      parts.push(part.data);
    }
    const got = Buffer.concat(parts);
    expect(Buffer.compare(got, (A["model.safetensors"] ?? new Uint8Array()).subarray(1000, 6000))).toBe(0);
  });

  it("tells unknown models, wrong revisions, gated models and bad ids apart", async () => {
    expect(await codeOf(fetchModel("acme/none"))).toBe("unknown_model");
    expect(await codeOf(fetchModel("acme/a", "v404"))).toBe("unknown_revision");
    expect(await codeOf(fetchModel("acme/gated"))).toBe("gated");
    expect(await codeOf(fetchModel("../etc/passwd"))).toBe("invalid_argument");
    const down = fetchThroughExpress({
      url: "http://127.0.0.1:1",
      modelId: "acme/a",
      revision: "main",
      cache: new HfCache(join(dir, "down")),
    });
    expect(await codeOf(down)).toBe("express_unreachable");
  });

  it("resumes a client's interrupted file from its good chunks", async () => {
    const cache = new HfCache(join(dir, "resume"));
    const first = await fetchModel("acme/a", "main", "resume");
    // Simulate a crash mid-file: the blob goes back to being a partial download with its first half.
    const weights = A["model.safetensors"] ?? new Uint8Array();
    const { rm: remove, writeFile, mkdir } = await import("node:fs/promises");
    await remove(join(first.dir, "model.safetensors"));
    await remove(cache.blobPath("acme/a", sha256Hex(weights)));
    await mkdir(join(cache.repoDir("acme/a"), "blobs"), { recursive: true });
    await writeFile(cache.incompletePath("acme/a", sha256Hex(weights)), weights.subarray(0, 100_000));
    const again = await fetchModel("acme/a", "main", "resume");
    // Only the chunks past the first 96 KiB (three whole 32 KiB chunks) came again.
    expect(again.bytes.server).toBe(weights.length - 3 * 32 * 1024);
    expect(sha256Hex(await readFile(join(again.dir, "model.safetensors")))).toBe(sha256Hex(weights));
  });

  it("evicts the least recently used model past the cache limit, and counts it", async () => {
    await fetchModel("acme/b");
    const folders = await readdir(join(dir, "server"));
    expect(folders).toContain("models--acme--b");
    expect(folders).not.toContain("models--acme--a");
    const metrics = await (await fetch(`${server.statusUrl ?? ""}/metrics`)).text();
    expect(metrics).toMatch(/kvasir_model_express_evictions_total\{[^}]*\} [1-9]/);
    // The evicted model comes back from the source when asked again.
    const before = hub.bytesServed;
    await fetchModel("acme/a", "main", "after-eviction");
    expect(hub.bytesServed - before).toBe(size(A));
  });
});
