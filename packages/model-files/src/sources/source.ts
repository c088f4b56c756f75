import type { Manifest, ManifestFile } from "../manifest.js";

/** Where a model's files come from: a hub, S3, a local directory. */
export interface ModelSource {
  /** For logs and errors: the endpoint, bucket or directory. */
  readonly description: string;
  /** The model's files at `revision` (a branch, tag or commit; empty means the default). */
  resolve(modelId: string, revision: string, signal?: AbortSignal): Promise<Manifest>;
  /** The file's bytes from `offset` to its end. */
  read(
    manifest: Manifest,
    file: ManifestFile,
    offset: number,
    signal?: AbortSignal,
  ): AsyncIterable<Uint8Array>;
}
