// What `--model` names: a Hugging Face id, an S3 URL or a local directory; and the Hugging Face cache's folder
// names for them (`models--org--name`, as huggingface_hub's repo_folder_name spells them).

export type ModelRef =
  | { kind: "hub"; repoId: string }
  | { kind: "s3"; bucket: string; prefix: string }
  | { kind: "local"; dir: string };

const HUB_ID = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;

/**
 * Reads a model reference. `exists` says whether a path is a directory on this host: a local directory wins over
 * a hub id of the same spelling, as in huggingface_hub and vLLM.
 */
export function parseModelRef(text: string, exists: (path: string) => boolean): ModelRef {
  if (text.startsWith("s3://")) {
    const rest = text.slice("s3://".length);
    const slash = rest.indexOf("/");
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? "" : rest.slice(slash + 1).replace(/\/+$/, "");
    if (bucket === "") throw new Error(`${text}: an S3 URL needs a bucket (s3://bucket/prefix)`);
    return { kind: "s3", bucket, prefix };
  }
  if (exists(text)) return { kind: "local", dir: text };
  if (text.startsWith("/") || text.startsWith(".") || !HUB_ID.test(text) || text.includes("..")) {
    throw new Error(`${text}: not a directory, an s3:// URL or a Hugging Face id (org/name)`);
  }
  return { kind: "hub", repoId: text };
}

/** The id a model has in manifests and the cache: the hub id, or the S3 URL. */
export function modelIdOf(ref: ModelRef): string {
  if (ref.kind === "hub") return ref.repoId;
  if (ref.kind === "s3") return `s3://${ref.bucket}${ref.prefix ? `/${ref.prefix}` : ""}`;
  return ref.dir;
}

/** `org/name` → `models--org--name`; an S3 URL → `models--s3--bucket--prefix--parts`. */
export function repoFolderName(modelId: string): string {
  const id = modelId.startsWith("s3://") ? `s3/${modelId.slice(5)}` : modelId;
  return `models--${id.split("/").filter(Boolean).join("--")}`;
}

/** A snapshot directory of a Hugging Face cache (`.../models--org--name/snapshots/<rev>`) back to its model and revision. */
export function parseSnapshotPath(path: string): { modelId: string; revision: string } | undefined {
  const match = /(?:^|\/)models--([^/]+)\/snapshots\/([^/]+)\/?$/.exec(path);
  if (!match?.[1] || !match[2]) return undefined;
  const parts = match[1].split("--");
  const modelId = parts[0] === "s3" ? `s3://${parts.slice(1).join("/")}` : parts.join("/");
  return { modelId, revision: match[2] };
}

/** A path inside a snapshot must stay inside it. */
export function checkFilePath(path: string): string {
  const parts = path.split("/");
  if (path === "" || path.startsWith("/") || parts.some((p) => p === "" || p === "." || p === "..")) {
    throw new Error(`invalid file path in manifest: ${JSON.stringify(path)}`);
  }
  return path;
}
