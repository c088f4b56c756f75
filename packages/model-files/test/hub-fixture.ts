// A Hugging Face–compatible hub on loopback for tests and the benchmark: model info with `?blobs=true`,
// `resolve/<rev>/<path>` with ETag / X-Repo-Commit / X-Linked-Etag, LFS files redirected to a "CDN" path,
// ranges, gated repos (a bearer token), the hub's X-Error-Code errors; it counts the bytes it serves and can
// drop a connection part-way through a file (a flaky network) or cap its bandwidth (remote storage).
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FixtureModel {
  files: Record<string, Uint8Array>;
  /** Needs `Authorization: Bearer <token>`. */
  gatedToken?: string;
  /** Branch names besides `main`. */
  commit?: string;
}

export interface HubFixtureOptions {
  /** Files at least this big are LFS (redirected to the CDN, identified by SHA-256). Default 1 KiB. */
  lfsThreshold?: number;
  /** Total bytes per second for file bodies. */
  bandwidthBytesPerSecond?: number;
}

export interface HubFixture {
  readonly url: string;
  /** Body bytes served for files (hub and CDN). */
  readonly bytesServed: number;
  /** Requests per path, e.g. `/api/models/org/name/revision/main`. */
  readonly requests: string[];
  commitOf(repoId: string): string;
  /** Drops the connection of the next file response after `bytes` body bytes (once). */
  dropNextAfter(bytes: number): void;
  close(): Promise<void>;
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const gitSha1 = (data: Uint8Array) =>
  createHash("sha1").update(`blob ${data.length}\0`).update(data).digest("hex");

export async function startHubFixture(
  models: Record<string, FixtureModel>,
  options: HubFixtureOptions = {},
): Promise<HubFixture> {
  const lfsThreshold = options.lfsThreshold ?? 1024;
  const commits = new Map<string, string>();
  const blobs = new Map<string, Uint8Array>();
  // Hashed once: a big model's files are not rehashed on every request.
  const hashes = new Map<Uint8Array, { sha256: string; gitSha1: string }>();
  const hashOf = (data: Uint8Array) => {
    let h = hashes.get(data);
    if (!h) {
      h = { sha256: sha256(data), gitSha1: gitSha1(data) };
      hashes.set(data, h);
    }
    return h;
  };
  for (const [repoId, model] of Object.entries(models)) {
    const listing = Object.entries(model.files)
      .map(([p, d]) => `${p}:${hashOf(d).sha256}`)
      .sort()
      .join("\n");
    commits.set(repoId, model.commit ?? createHash("sha1").update(repoId).update(listing).digest("hex"));
    for (const data of Object.values(model.files)) blobs.set(hashOf(data).sha256, data);
  }
  let bytesServed = 0;
  let dropAfter: number | undefined;
  const requests: string[] = [];
  let nextSlot = 0;

  const error = (res: ServerResponse, status: number, code: string, message: string) => {
    res.writeHead(status, {
      "x-error-code": code,
      "x-error-message": message,
      "content-type": "application/json",
    });
    res.end(JSON.stringify({ error: message }));
  };

  function authorized(req: IncomingMessage, model: FixtureModel): boolean {
    return !model.gatedToken || req.headers.authorization === `Bearer ${model.gatedToken}`;
  }

  async function sendBody(
    req: IncomingMessage,
    res: ServerResponse,
    data: Uint8Array,
    headers: Record<string, string>,
  ) {
    let start = 0;
    let end = data.length;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(data.length, Number(range[2]) + 1) : data.length;
      if (start >= data.length) {
        res.writeHead(416, { "content-range": `bytes */${data.length}` }).end();
        return;
      }
      res.writeHead(206, {
        ...headers,
        "content-length": String(end - start),
        "content-range": `bytes ${start}-${end - 1}/${data.length}`,
      });
    } else {
      res.writeHead(200, { ...headers, "content-length": String(data.length) });
    }
    const drop = dropAfter;
    dropAfter = undefined;
    const piece = 64 * 1024;
    let sent = 0;
    for (let at = start; at < end; at += piece) {
      const part = data.subarray(at, Math.min(end, at + piece));
      if (drop !== undefined && sent + part.length > drop) {
        const head = part.subarray(0, Math.max(0, drop - sent));
        if (head.length > 0) await new Promise((r) => res.write(head, r));
        bytesServed += head.length;
        // Let the bytes reach the client before the connection goes.
        await new Promise((r) => setTimeout(r, 20));
        res.destroy();
        return;
      }
      if (options.bandwidthBytesPerSecond) {
        // One shared timeline of slots: the cap holds across concurrent downloads.
        const now = performance.now();
        nextSlot = Math.max(nextSlot, now) + (part.length * 1000) / options.bandwidthBytesPerSecond;
        const wait = nextSlot - now;
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      }
      if (res.destroyed) return;
      if (!res.write(part)) await new Promise((r) => res.once("drain", r));
      sent += part.length;
      bytesServed += part.length;
    }
    res.end();
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://fixture");
    requests.push(url.pathname);
    handle(req, res, url).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const info = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (info?.[1] && info[2]) {
      const repoId = info[1];
      const model = models[repoId];
      if (!model) return error(res, 404, "RepoNotFound", `Repository not found: ${repoId}`);
      if (!authorized(req, model))
        return error(res, 401, "GatedRepo", `Access to model ${repoId} is restricted`);
      const commit = commits.get(repoId) ?? "";
      const rev = decodeURIComponent(info[2]);
      if (rev !== "main" && rev !== commit)
        return error(res, 404, "RevisionNotFound", `Invalid rev id: ${rev}`);
      const blobsWanted = url.searchParams.get("blobs") === "true";
      const siblings = Object.entries(model.files).map(([rfilename, data]) => ({
        rfilename,
        ...(blobsWanted
          ? {
              blobId: hashOf(data).gitSha1,
              size: data.length,
              ...(data.length >= lfsThreshold
                ? { lfs: { sha256: hashOf(data).sha256, size: data.length, pointerSize: 134 } }
                : {}),
            }
          : {}),
      }));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: repoId,
          modelId: repoId,
          sha: commit,
          gated: model.gatedToken ? "auto" : false,
          siblings,
        }),
      );
      return;
    }
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve?.[1] && resolve[2] && resolve[3]) {
      const repoId = resolve[1];
      const model = models[repoId];
      if (!model) return error(res, 404, "RepoNotFound", `Repository not found: ${repoId}`);
      if (!authorized(req, model))
        return error(res, 401, "GatedRepo", `Access to model ${repoId} is restricted`);
      const commit = commits.get(repoId) ?? "";
      const rev = decodeURIComponent(resolve[2]);
      if (rev !== "main" && rev !== commit)
        return error(res, 404, "RevisionNotFound", `Invalid rev id: ${rev}`);
      const path = resolve[3].split("/").map(decodeURIComponent).join("/");
      const data = model.files[path];
      if (!data) return error(res, 404, "EntryNotFound", `${path} does not exist at ${rev}`);
      if (data.length >= lfsThreshold) {
        const sha = hashOf(data).sha256;
        res.writeHead(302, {
          location: `/cdn/${sha}?repo=${encodeURIComponent(repoId)}`,
          "x-repo-commit": commit,
          "x-linked-etag": `"${sha}"`,
          "x-linked-size": String(data.length),
          etag: `"${gitSha1(new TextEncoder().encode(sha))}"`,
        });
        res.end();
        return;
      }
      return sendBody(req, res, data, { "x-repo-commit": commit, etag: `"${hashOf(data).gitSha1}"` });
    }
    if (url.pathname === "/stats") {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ bytesServed }));
      return;
    }
    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn?.[1]) {
      const data = blobs.get(cdn[1]);
      if (!data) return void res.writeHead(404).end();
      return sendBody(req, res, data, { etag: `"${cdn[1]}"` });
    }
    res.writeHead(404).end();
  }

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get bytesServed() {
      return bytesServed;
    },
    requests,
    commitOf: (repoId) => commits.get(repoId) ?? "",
    dropNextAfter: (bytes) => {
      dropAfter = bytes;
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Deterministic pseudo-random bytes (so a test's files differ and compress badly). */
export function randomBytes(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A small model: config, tokenizer files and one weights file of `weightBytes`. */
export function smallModel(weightBytes: number, seed = 1): Record<string, Uint8Array> {
  const text = (s: string) => new TextEncoder().encode(s);
  return {
    "config.json": text(JSON.stringify({ model_type: "qwen3", max_position_embeddings: 4096 })),
    "tokenizer_config.json": text(JSON.stringify({ chat_template: "{{ messages }}" })),
    "tokenizer.json": text(JSON.stringify({ version: "1.0", model: { type: "BPE" }, seed })),
    "model.safetensors": randomBytes(weightBytes, seed),
  };
}
