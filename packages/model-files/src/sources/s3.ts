// S3-compatible storage as a source, through the AWS SDK; endpoint, region and credentials come from the SDK's
// usual variables (AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, ...). A model is the
// objects under `prefix/`; the revision is a hash of their keys, sizes and ETags (S3 has no commits), and a
// single-part upload's ETag (its MD5) is checked after download.
import { createHash } from "node:crypto";
import { GetObjectCommand, ListObjectsV2Command, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { ModelFilesError } from "../errors.js";
import type { Manifest, ManifestFile } from "../manifest.js";
import type { ModelSource } from "./source.js";

export function s3ClientFromEnv(env: Record<string, string | undefined> = process.env): S3Client {
  const endpoint = env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  const config: S3ClientConfig = {
    region: env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? "us-east-1",
    // Self-hosted S3 (MinIO, Ceph, s3rver) is reached by path, not by a bucket subdomain.
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
    // Given explicitly when the variables are in `env` (which need not be process.env); else the SDK's chain.
    ...(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
      ? {
          credentials: {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          },
        }
      : {}),
  };
  return new S3Client(config);
}

export class S3Source implements ModelSource {
  readonly description: string;

  /** Models live under `s3://bucket/prefix/<model id>`; `single` makes the prefix itself the only model. */
  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly single = false,
  ) {
    this.description = `s3://${bucket}/${prefix}`;
  }

  private keyPrefix(modelId: string): string {
    const parts = [this.prefix, this.single ? "" : modelId].filter(Boolean);
    return parts.length === 0 ? "" : `${parts.join("/")}/`;
  }

  async resolve(modelId: string, revision: string, signal?: AbortSignal): Promise<Manifest> {
    const prefix = this.keyPrefix(modelId);
    const files: ManifestFile[] = [];
    const hash = createHash("sha256");
    let token: string | undefined;
    do {
      const page = await this.call(
        () =>
          this.client.send(
            new ListObjectsV2Command({
              Bucket: this.bucket,
              Prefix: prefix,
              ...(token ? { ContinuationToken: token } : {}),
            }),
            signal ? { abortSignal: signal } : {},
          ),
        modelId,
      );
      for (const object of page.Contents ?? []) {
        if (!object.Key || object.Key.endsWith("/")) continue;
        const path = object.Key.slice(prefix.length);
        const etag = (object.ETag ?? "").replace(/"/g, "");
        const size = object.Size ?? 0;
        files.push({ path, size, ...(/^[0-9a-f]{32}$/.test(etag) ? { md5: etag } : {}) });
        hash.update(`${path}\0${size}\0${etag}\n`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    if (files.length === 0) {
      throw new ModelFilesError(
        "unknown_model",
        `no model ${modelId}: nothing under s3://${this.bucket}/${prefix}`,
      );
    }
    const commit = hash.digest("hex").slice(0, 40);
    if (revision && revision !== "main" && revision !== commit) {
      throw new ModelFilesError(
        "unknown_revision",
        `${modelId}: S3 holds one revision, ${commit}, not ${revision}`,
      );
    }
    return { modelId, revision: commit, chunkSize: 0, files };
  }

  async *read(
    manifest: Manifest,
    file: ManifestFile,
    offset: number,
    signal?: AbortSignal,
  ): AsyncIterable<Uint8Array> {
    if (offset >= file.size) return;
    const out = await this.call(
      () =>
        this.client.send(
          new GetObjectCommand({
            Bucket: this.bucket,
            Key: `${this.keyPrefix(manifest.modelId)}${file.path}`,
            ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}),
          }),
          signal ? { abortSignal: signal } : {},
        ),
      `${manifest.modelId}/${file.path}`,
    );
    const body: unknown = out.Body;
    if (!isAsyncIterable(body))
      throw new ModelFilesError("source_unreachable", `S3 returned no body for ${file.path}`);
    for await (const data of body) if (data instanceof Uint8Array) yield data;
  }

  private async call<T>(send: () => Promise<T>, what: string): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const name = error instanceof Error ? error.name : "";
      if (name === "NoSuchBucket" || name === "NoSuchKey" || name === "NotFound") {
        throw new ModelFilesError("unknown_model", `no model ${what} in ${this.description} (${name})`);
      }
      if (name === "CredentialsProviderError") {
        throw new ModelFilesError(
          "gated",
          `${this.description}: no AWS credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)`,
        );
      }
      if (name === "AccessDenied" || name === "InvalidAccessKeyId" || name === "SignatureDoesNotMatch") {
        throw new ModelFilesError(
          "gated",
          `${this.description}: access denied to ${what} (${name}); check the AWS credentials`,
        );
      }
      if (name === "AbortError") throw error;
      throw new ModelFilesError(
        "source_unreachable",
        `${this.description} unreachable for ${what}: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
  }
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}
