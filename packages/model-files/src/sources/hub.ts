// A Hugging Face–compatible hub over HTTP. Shapes from huggingface_hub (hf_api.model_info, file_download):
// `GET /api/models/{repo}/revision/{rev}?blobs=true` answers `{ sha, siblings: [{ rfilename, size, blobId,
// lfs?: { sha256, size } }] }`; `GET /{repo}/resolve/{rev}/{path}` answers the file, or for LFS files a redirect
// to a CDN, with `X-Repo-Commit`, `ETag` and, for LFS, `X-Linked-Etag` (the SHA-256) on the hub's response;
// errors carry `X-Error-Code` (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo). `HF_TOKEN` is sent
// as a bearer token to the hub and dropped on a redirect to another origin.
import { ModelFilesError } from "../errors.js";
import type { Manifest, ManifestFile } from "../manifest.js";
import type { ModelSource } from "./source.js";

export const DEFAULT_HF_ENDPOINT = "https://huggingface.co";

export interface HubSourceOptions {
  /** HF_ENDPOINT; huggingface.co when absent. */
  endpoint?: string;
  /** HF_TOKEN, for gated and private models. */
  token?: string;
}

export function hubOptionsFromEnv(env: Record<string, string | undefined> = process.env): HubSourceOptions {
  const token = env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
  return { endpoint: env.HF_ENDPOINT ?? DEFAULT_HF_ENDPOINT, ...(token ? { token } : {}) };
}

interface Sibling {
  rfilename: string;
  size?: number;
  blobId?: string;
  lfs?: { sha256?: string; size?: number };
}

export class HubSource implements ModelSource {
  readonly description: string;
  private readonly endpoint: string;

  constructor(private readonly options: HubSourceOptions = {}) {
    this.endpoint = (options.endpoint ?? DEFAULT_HF_ENDPOINT).replace(/\/+$/, "");
    this.description = this.endpoint;
  }

  async resolve(modelId: string, revision: string, signal?: AbortSignal): Promise<Manifest> {
    const rev = revision || "main";
    const url = `${this.endpoint}/api/models/${modelId}/revision/${encodeURIComponent(rev)}?blobs=true`;
    const res = await this.get(url, { signal, what: `${modelId}@${rev}` });
    const body: unknown = await res.json();
    if (typeof body !== "object" || body === null) throw this.badAnswer(url, "not a JSON object");
    const info = body as { sha?: unknown; siblings?: unknown };
    if (typeof info.sha !== "string" || !Array.isArray(info.siblings)) {
      throw this.badAnswer(url, "no sha or siblings");
    }
    const files: ManifestFile[] = [];
    for (const raw of info.siblings as Sibling[]) {
      if (typeof raw?.rfilename !== "string") continue;
      const size = raw.lfs?.size ?? raw.size;
      if (typeof size !== "number")
        throw this.badAnswer(url, `no size for ${raw.rfilename} (blobs=true ignored?)`);
      files.push({
        path: raw.rfilename,
        size,
        ...(raw.lfs?.sha256 ? { sha256: raw.lfs.sha256 } : raw.blobId ? { gitSha1: raw.blobId } : {}),
      });
    }
    return { modelId, revision: info.sha, chunkSize: 0, files };
  }

  async *read(
    manifest: Manifest,
    file: ManifestFile,
    offset: number,
    signal?: AbortSignal,
  ): AsyncIterable<Uint8Array> {
    const url = `${this.endpoint}/${manifest.modelId}/resolve/${manifest.revision}/${file.path
      .split("/")
      .map(encodeURIComponent)
      .join("/")}`;
    const res = await this.get(url, {
      signal,
      what: `${manifest.modelId}@${manifest.revision}/${file.path}`,
      range: offset > 0 ? offset : undefined,
      expect: file,
    });
    if (!res.body) return;
    // A server that ignores Range answers 200 with the whole file: skip what we have.
    let skip = offset > 0 && res.status === 200 ? offset : 0;
    for await (const data of res.body) {
      if (skip >= data.length) {
        skip -= data.length;
        continue;
      }
      yield skip > 0 ? data.subarray(skip) : data;
      skip = 0;
    }
  }

  /** GET with the token, following redirects by hand so the hub's headers are seen and the token stays home. */
  private async get(
    url: string,
    opts: {
      signal?: AbortSignal | undefined;
      what: string;
      range?: number | undefined;
      expect?: ManifestFile;
    },
  ): Promise<Response> {
    let target = new URL(url);
    const origin = target.origin;
    for (let hop = 0; hop < 10; hop++) {
      const headers: Record<string, string> = {};
      if (this.options.token && target.origin === origin)
        headers.authorization = `Bearer ${this.options.token}`;
      if (opts.range !== undefined) headers.range = `bytes=${opts.range}-`;
      let res: Response;
      try {
        res = await fetch(target, {
          headers,
          redirect: "manual",
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      } catch (error) {
        if (opts.signal?.aborted) throw error;
        throw new ModelFilesError(
          "source_unreachable",
          `hub ${this.endpoint} unreachable: ${causeOf(error)}`,
          {
            cause: error,
          },
        );
      }
      if (hop === 0 && opts.expect) this.checkEtag(res, opts.expect, opts.what);
      if (res.status >= 300 && res.status < 400) {
        const location = res.headers.get("location");
        await res.body?.cancel();
        if (!location) throw this.badAnswer(url, `redirect ${res.status} without a location`);
        target = new URL(location, target);
        continue;
      }
      if (res.ok) return res;
      await res.body?.cancel();
      throw this.errorOf(res, opts.what);
    }
    throw this.badAnswer(url, "too many redirects");
  }

  /** The hub's ETag (X-Linked-Etag for LFS) is the file's hash: a different one means the file changed. */
  private checkEtag(res: Response, file: ManifestFile, what: string): void {
    const etag = (res.headers.get("x-linked-etag") ?? res.headers.get("etag"))
      ?.replace(/^W\//, "")
      .replace(/"/g, "");
    const expected = file.sha256 ?? file.gitSha1;
    if (etag && expected && /^[0-9a-f]{40}([0-9a-f]{24})?$/.test(etag) && etag !== expected) {
      throw new ModelFilesError(
        "checksum_mismatch",
        `${what}: the hub's ETag ${etag} is not the manifest's ${expected} (file changed at that revision?)`,
      );
    }
  }

  private errorOf(res: Response, what: string): ModelFilesError {
    const code = res.headers.get("x-error-code");
    const detail = res.headers.get("x-error-message");
    const suffix = detail ? `: ${detail}` : "";
    if (code === "GatedRepo" || ((res.status === 401 || res.status === 403) && code !== "RepoNotFound")) {
      return new ModelFilesError(
        "gated",
        `${what} is gated or private: set HF_TOKEN to a token with access (HTTP ${res.status})${suffix}`,
      );
    }
    if (code === "RevisionNotFound")
      return new ModelFilesError("unknown_revision", `no revision ${what}${suffix}`);
    if (code === "EntryNotFound") return new ModelFilesError("unknown_file", `no file ${what}${suffix}`);
    if (code === "RepoNotFound" || res.status === 404) {
      return new ModelFilesError("unknown_model", `no model ${what} on ${this.endpoint}${suffix}`);
    }
    return new ModelFilesError(
      "source_unreachable",
      `hub ${this.endpoint} answered HTTP ${res.status} for ${what}${suffix}`,
    );
  }

  private badAnswer(url: string, why: string): ModelFilesError {
    return new ModelFilesError("source_unreachable", `unexpected answer from ${url}: ${why}`);
  }
}

function causeOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
    return `${error.message}${cause}`;
  }
  return String(error);
}
