// A local directory as a source: its files (dot-files and directories skipped) are the model; the revision is a
// hash of their paths, sizes and modification times, so an edited directory is a new revision.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { ModelFilesError } from "../errors.js";
import type { Manifest, ManifestFile } from "../manifest.js";
import type { ModelSource } from "./source.js";

export class LocalSource implements ModelSource {
  readonly description: string;

  /** `root` holds one directory per model id (`root/org/name`); `single` makes `root` itself the only model. */
  constructor(
    private readonly root: string,
    private readonly single = false,
  ) {
    this.description = root;
  }

  private dirOf(modelId: string): string {
    return this.single ? this.root : join(this.root, modelId);
  }

  async resolve(modelId: string, revision: string): Promise<Manifest> {
    const dir = this.dirOf(modelId);
    const files: ManifestFile[] = [];
    const hash = createHash("sha256");
    try {
      await walk(dir, "", async (path, size, mtimeMs) => {
        files.push({ path, size });
        hash.update(`${path}\0${size}\0${mtimeMs}\n`);
      });
    } catch (error) {
      const code = error instanceof Error && "code" in error ? error.code : undefined;
      if (code === "ENOENT" || code === "ENOTDIR") {
        throw new ModelFilesError("unknown_model", `no model ${modelId} in ${this.root}`);
      }
      throw new ModelFilesError("source_unreachable", `cannot read ${dir}: ${String(error)}`, {
        cause: error,
      });
    }
    if (files.length === 0) throw new ModelFilesError("unknown_model", `no files in ${dir}`);
    const commit = hash.digest("hex").slice(0, 40);
    if (revision && revision !== "main" && revision !== commit) {
      throw new ModelFilesError(
        "unknown_revision",
        `${modelId}: a local directory has one revision, ${commit}, not ${revision}`,
      );
    }
    files.sort((a, b) => a.path.localeCompare(b.path));
    return { modelId, revision: commit, chunkSize: 0, files };
  }

  async *read(manifest: Manifest, file: ManifestFile, offset: number): AsyncIterable<Uint8Array> {
    if (offset >= file.size) return;
    for await (const data of createReadStream(join(this.dirOf(manifest.modelId), file.path), {
      start: offset,
    })) {
      yield data as Buffer;
    }
  }
}

async function walk(
  dir: string,
  prefix: string,
  visit: (path: string, size: number, mtimeMs: number) => Promise<void>,
): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    if (entry.name.startsWith(".")) continue;
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    const full = join(dir, entry.name);
    const info = await stat(full);
    if (info.isDirectory()) await walk(full, path, visit);
    else if (info.isFile()) await visit(path, info.size, info.mtimeMs);
  }
}
