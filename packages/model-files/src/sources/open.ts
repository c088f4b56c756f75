// From a `--source` (server) or a `--model` (worker) to a ModelSource.
import { HubSource, type HubSourceOptions } from "./hub.js";
import { LocalSource } from "./local.js";
import { S3Source, s3ClientFromEnv } from "./s3.js";
import type { ModelSource } from "./source.js";

/**
 * The server's `--source`: a directory holding `org/name/` model directories, a hub URL (`HF_ENDPOINT`'s form),
 * or `s3://bucket/prefix` holding `org/name/` prefixes. `HF_TOKEN` and the AWS variables come from `env`.
 */
export function openSource(spec: string, env: Record<string, string | undefined> = process.env): ModelSource {
  if (spec.startsWith("s3://")) {
    const rest = spec.slice(5);
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? "" : rest.slice(slash + 1).replace(/\/+$/, "");
    if (!bucket) throw new Error(`--source ${spec}: no bucket`);
    return new S3Source(s3ClientFromEnv(env), bucket, prefix);
  }
  if (/^https?:\/\//.test(spec)) {
    const token = env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
    const options: HubSourceOptions = { endpoint: spec, ...(token ? { token } : {}) };
    return new HubSource(options);
  }
  return new LocalSource(spec);
}

/**
 * The source a model id names by itself: an `s3://` URL is its own source; anything else is resolved against
 * `fallback` (the server's `--source`, or the hub for a worker).
 */
export function sourceForModel(
  modelId: string,
  fallback: ModelSource,
  env: Record<string, string | undefined> = process.env,
): ModelSource {
  if (!modelId.startsWith("s3://")) return fallback;
  const rest = modelId.slice(5);
  const slash = rest.indexOf("/");
  const bucket = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? "" : rest.slice(slash + 1).replace(/\/+$/, "");
  return new S3Source(s3ClientFromEnv(env), bucket, prefix, true);
}
