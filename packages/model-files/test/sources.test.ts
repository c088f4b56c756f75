import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  downloadKey,
  HfCache,
  HubSource,
  LocalSource,
  ModelFilesError,
  openSource,
  S3Source,
  SnapshotFetcher,
  s3ClientFromEnv,
} from "../src/index.js";
import { startFlakyProxy } from "./flaky-proxy.js";
import { type HubFixture, smallModel, startHubFixture } from "./hub-fixture.js";
import { type S3Fixture, startS3Fixture } from "./s3-fixture.js";

const WEIGHTS = 300_000;
const files = smallModel(WEIGHTS);
const sha = (d: Uint8Array) => createHash("sha256").update(d).digest("hex");
const total = Object.values(files).reduce((n, d) => n + d.length, 0);

let hub: HubFixture;
let dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "kvasir-model-files-"));
  dirs.push(dir);
  return dir;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "resolved";
  } catch (error) {
    return error instanceof ModelFilesError ? error.code : String(error);
  }
}

beforeAll(async () => {
  hub = await startHubFixture({
    "acme/tiny": { files },
    "acme/gated": { files: smallModel(2000, 2), gatedToken: "secret" },
  });
});
afterAll(() => hub.close());
afterEach(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  dirs = [];
});

describe("hub source", () => {
  it("resolves, downloads into the Hugging Face cache layout and verifies", async () => {
    const cache = new HfCache(await tempDir());
    const fetcher = new SnapshotFetcher(cache, new HubSource({ endpoint: hub.url }), {
      chunkSize: 64 * 1024,
    });
    const model = await fetcher.ensure("acme/tiny", "main");
    const commit = hub.commitOf("acme/tiny");
    expect(model.manifest.revision).toBe(commit);
    expect(model.dir).toBe(join(cache.root, "models--acme--tiny", "snapshots", commit));
    for (const [path, data] of Object.entries(files)) {
      expect(Buffer.compare(await readFile(join(model.dir, path)), data)).toBe(0);
      // Snapshot entries are relative links into blobs/, named by SHA-256.
      expect(await readlink(join(model.dir, path))).toBe(`../../blobs/${sha(data)}`);
    }
    expect((await readFile(join(cache.root, "models--acme--tiny", "refs", "main"), "utf8")).trim()).toBe(
      commit,
    );
    const weights = model.manifest.files.find((f) => f.path === "model.safetensors");
    expect(weights?.sha256).toBe(sha(files["model.safetensors"] ?? new Uint8Array()));
    expect(weights?.chunkSha256).toHaveLength(Math.ceil(WEIGHTS / (64 * 1024)));
    // The LFS file came through the CDN redirect.
    expect(hub.requests.some((p) => p.startsWith("/cdn/"))).toBe(true);
    // A second ensure is a cache hit.
    const before = hub.bytesServed;
    expect((await fetcher.ensure("acme/tiny", commit)).downloaded).toBe(false);
    expect(hub.bytesServed).toBe(before);
  });

  it("fetches once when many ask at the same time", async () => {
    const cache = new HfCache(await tempDir());
    const fetcher = new SnapshotFetcher(cache, new HubSource({ endpoint: hub.url }));
    const before = hub.bytesServed;
    const models = await Promise.all(Array.from({ length: 5 }, () => fetcher.ensure("acme/tiny", "main")));
    expect(new Set(models.map((m) => m.dir)).size).toBe(1);
    expect(hub.bytesServed - before).toBe(total);
  });

  it("fetches once when two fetchers (two workers) share one cache", async () => {
    const root = await tempDir();
    const source = new HubSource({ endpoint: hub.url });
    const before = hub.bytesServed;
    const [a, b] = await Promise.all([
      new SnapshotFetcher(new HfCache(root), source).ensure("acme/tiny", "main"),
      new SnapshotFetcher(new HfCache(root), source).ensure("acme/tiny", "main"),
    ]);
    expect(a.dir).toBe(b.dir);
    expect(hub.bytesServed - before).toBe(total);
    expect(sha(await readFile(join(a.dir, "model.safetensors")))).toBe(
      sha(files["model.safetensors"] ?? new Uint8Array()),
    );
  });

  it("resumes after the connection drops mid-file", async () => {
    const cache = new HfCache(await tempDir());
    const fetcher = new SnapshotFetcher(cache, new HubSource({ endpoint: hub.url }), { parallelFiles: 1 });
    const before = hub.bytesServed;
    const ranged = hub.requests.length;
    hub.dropNextAfter(100_000);
    const model = await fetcher.ensure("acme/tiny", "main");
    const weights = await readFile(join(model.dir, "model.safetensors"));
    expect(Buffer.compare(weights, files["model.safetensors"] ?? new Uint8Array())).toBe(0);
    // The dropped file continued from where it stopped: nothing was sent twice.
    expect(hub.bytesServed - before).toBe(total);
    expect(hub.requests.slice(ranged).length).toBeGreaterThan(Object.keys(files).length + 1);
  });

  it("continues a partial download left by an earlier process", async () => {
    const cache = new HfCache(await tempDir());
    const source = new HubSource({ endpoint: hub.url });
    const manifest = await source.resolve("acme/tiny", "main");
    const file = manifest.files.find((f) => f.path === "model.safetensors");
    if (!file) throw new Error("no weights");
    const partial = cache.incompletePath("acme/tiny", downloadKey(manifest, file));
    await mkdir(join(cache.repoDir("acme/tiny"), "blobs"), { recursive: true });
    await writeFile(partial, (files["model.safetensors"] ?? new Uint8Array()).subarray(0, 200_000));
    const before = hub.bytesServed;
    const model = await new SnapshotFetcher(cache, source).ensure("acme/tiny", "main");
    expect(hub.bytesServed - before).toBe(total - 200_000);
    expect(sha(await readFile(join(model.dir, "model.safetensors")))).toBe(file.sha256);
  });

  it("needs HF_TOKEN for a gated model", async () => {
    const cache = new HfCache(await tempDir());
    const anonymous = new SnapshotFetcher(cache, new HubSource({ endpoint: hub.url }));
    expect(await codeOf(anonymous.ensure("acme/gated", "main"))).toBe("gated");
    const source = openSource(hub.url, { HF_TOKEN: "secret" });
    const model = await new SnapshotFetcher(cache, source).ensure("acme/gated", "main");
    expect((await readdir(model.dir)).sort()).toEqual(Object.keys(smallModel(1)).sort());
  });

  it("tells an unknown model, a wrong revision and an unreachable hub apart", async () => {
    const fetcher = new SnapshotFetcher(new HfCache(await tempDir()), new HubSource({ endpoint: hub.url }));
    expect(await codeOf(fetcher.ensure("acme/nope", "main"))).toBe("unknown_model");
    expect(await codeOf(fetcher.ensure("acme/tiny", "v9"))).toBe("unknown_revision");
    const down = new SnapshotFetcher(
      new HfCache(await tempDir()),
      new HubSource({ endpoint: "http://127.0.0.1:1" }),
    );
    expect(await codeOf(down.ensure("acme/tiny", "main"))).toBe("source_unreachable");
  });

  it("refuses a file whose bytes do not match the manifest and leaves nothing behind", async () => {
    const root = await tempDir();
    await mkdir(join(root, "acme", "tiny"), { recursive: true });
    for (const [path, data] of Object.entries(files)) await writeFile(join(root, "acme", "tiny", path), data);
    const local = new LocalSource(root);
    const cache = new HfCache(await tempDir());
    // The manifest says one thing; the bytes are another's.
    const lying = {
      description: "lying",
      resolve: async (id: string, rev: string) => {
        const m = await local.resolve(id, rev);
        return { ...m, files: m.files.map((f) => ({ ...f, sha256: "0".repeat(64) })) };
      },
      read: local.read.bind(local),
    };
    expect(
      await codeOf(new SnapshotFetcher(cache, lying, { parallelFiles: 1 }).ensure("acme/tiny", "main")),
    ).toBe("checksum_mismatch");
    expect(await readdir(join(cache.repoDir("acme/tiny"), "blobs"))).toEqual([]);
    // From the hub, the ETag of the file already tells it changed.
    const hubSource = new HubSource({ endpoint: hub.url });
    const liar = {
      description: "liar",
      resolve: async (id: string, rev: string) => {
        const m = await hubSource.resolve(id, rev);
        return { ...m, files: m.files.map((f) => (f.sha256 ? { ...f, sha256: "0".repeat(64) } : f)) };
      },
      read: hubSource.read.bind(hubSource),
    };
    const hubCache = new HfCache(await tempDir());
    expect(await codeOf(new SnapshotFetcher(hubCache, liar).ensure("acme/tiny", "main"))).toBe(
      "checksum_mismatch",
    );
    const blobs = await readdir(join(hubCache.repoDir("acme/tiny"), "blobs"));
    expect(blobs.filter((b) => b.endsWith(".incomplete"))).toEqual([]);
  });
});

describe("S3 source (s3rver, real AWS SDK)", () => {
  let s3: S3Fixture;
  beforeAll(async () => {
    s3 = await startS3Fixture("models");
    for (const [path, data] of Object.entries(files)) await s3.put(`hub/acme/tiny/${path}`, data);
  });
  afterAll(() => s3.close());

  it("resolves a prefix, downloads and checks each object's MD5 ETag", async () => {
    const source = openSource("s3://models/hub", s3.env);
    const cache = new HfCache(await tempDir());
    const model = await new SnapshotFetcher(cache, source).ensure("acme/tiny", "main");
    for (const [path, data] of Object.entries(files)) {
      expect(sha(await readFile(join(model.dir, path)))).toBe(sha(data));
    }
    const md5s = model.manifest.files.map((f) => f.md5);
    expect(md5s.every((m) => typeof m === "string" && m.length === 32)).toBe(true);
  });

  it("resumes a partial object with a ranged GET and tells a missing model", async () => {
    const source = new S3Source(s3ClientFromEnv(s3.env), "models", "hub/acme/tiny", true);
    const cache = new HfCache(await tempDir());
    const manifest = await source.resolve("s3://models/hub/acme/tiny", "");
    const file = manifest.files.find((f) => f.path === "model.safetensors");
    if (!file) throw new Error("no weights");
    await mkdir(join(cache.repoDir(manifest.modelId), "blobs"), { recursive: true });
    await writeFile(
      cache.incompletePath(manifest.modelId, downloadKey(manifest, file)),
      (files["model.safetensors"] ?? new Uint8Array()).subarray(0, 123_456),
    );
    const model = await new SnapshotFetcher(cache, source).ensure(manifest.modelId, "");
    expect(sha(await readFile(join(model.dir, "model.safetensors")))).toBe(
      sha(files["model.safetensors"] ?? new Uint8Array()),
    );
    const missing = new SnapshotFetcher(new HfCache(await tempDir()), openSource("s3://models/hub", s3.env));
    expect(await codeOf(missing.ensure("acme/none", "main"))).toBe("unknown_model");
  });
  it("resumes after the connection drops mid-object, and concurrent callers get each object once", async () => {
    const proxy = await startFlakyProxy(s3.port);
    try {
      const client = s3ClientFromEnv({ ...s3.env, AWS_ENDPOINT_URL_S3: proxy.url });
      let gets = 0;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === "GetObjectCommand") gets++;
          return next(args);
        },
        { step: "initialize" },
      );
      const fetcher = new SnapshotFetcher(
        new HfCache(await tempDir()),
        new S3Source(client, "models", "hub"),
        {
          parallelFiles: 1,
        },
      );
      proxy.dropNextAfter(150_000);
      const models = await Promise.all(Array.from({ length: 4 }, () => fetcher.ensure("acme/tiny", "main")));
      expect(proxy.drops).toBe(1);
      for (const [path, data] of Object.entries(files)) {
        expect(sha(await readFile(join(models[0]?.dir ?? "", path)))).toBe(sha(data));
      }
      // One GET per object for all four callers, plus the ranged GET that resumed the dropped one.
      expect(gets).toBe(Object.keys(files).length + 1);
      client.destroy();
    } finally {
      await proxy.close();
    }
  });
});

describe("local source", () => {
  it("copies a directory into the cache under a content revision", async () => {
    const root = await tempDir();
    await mkdir(join(root, "acme", "tiny"), { recursive: true });
    for (const [path, data] of Object.entries(files)) await writeFile(join(root, "acme", "tiny", path), data);
    const fetcher = new SnapshotFetcher(new HfCache(await tempDir()), new LocalSource(root));
    const model = await fetcher.ensure("acme/tiny", "main");
    expect(model.manifest.revision).toMatch(/^[0-9a-f]{40}$/);
    expect(sha(await readFile(join(model.dir, "model.safetensors")))).toBe(
      sha(files["model.safetensors"] ?? new Uint8Array()),
    );
    expect(await codeOf(fetcher.ensure("acme/other", "main"))).toBe("unknown_model");
  });
});
