// The Hugging Face cache layout (huggingface_hub's file_download): per model `models--org--name/` with
// `blobs/<hash>` (the content), `snapshots/<commit>/<path>` (relative symlinks to blobs) and `refs/<name>` (a
// branch or tag's commit). A snapshot link appears only after its blob was verified and renamed into place, so
// a file present in a snapshot is always whole. Kvasir names every blob by its SHA-256 (the hub names non-LFS
// blobs by their git id; tools read through snapshots and refs, which are the same) and keeps each revision's
// manifest, with chunk hashes, in `.kvasir/manifests/<commit>.json`.
import { randomUUID } from "node:crypto";
import { mkdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join, relative } from "node:path";
import { diskError } from "./errors.js";
import type { Manifest, ManifestFile } from "./manifest.js";
import { checkFilePath, repoFolderName } from "./model-ref.js";

/** The hub cache directory as huggingface_hub finds it: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(env: Record<string, string | undefined> = process.env): string {
  const explicit = env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE;
  if (explicit) return explicit;
  const home = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "huggingface");
  return join(home, "hub");
}

const COMMIT = /^[0-9a-f]{40}$/;

export function isCommitHash(revision: string): boolean {
  return COMMIT.test(revision);
}

export class HfCache {
  constructor(readonly root: string) {}

  repoDir(modelId: string): string {
    return join(this.root, repoFolderName(modelId));
  }

  blobPath(modelId: string, sha256: string): string {
    return join(this.repoDir(modelId), "blobs", sha256);
  }

  /** Where a file downloads before it is verified; `key` names the download (a known hash, or the path). */
  incompletePath(modelId: string, key: string): string {
    return join(this.repoDir(modelId), "blobs", `${key}.incomplete`);
  }

  /** The lock a download of `key` holds (huggingface_hub's `.locks/` layout). */
  lockPath(modelId: string, key: string): string {
    return join(this.root, ".locks", repoFolderName(modelId), `${key}.lock`);
  }

  snapshotDir(modelId: string, revision: string): string {
    return join(this.repoDir(modelId), "snapshots", revision);
  }

  snapshotFile(modelId: string, revision: string, path: string): string {
    return join(this.snapshotDir(modelId, revision), checkFilePath(path));
  }

  /** The commit a branch or tag points at in this cache; a commit is itself. */
  async readRef(modelId: string, revision: string): Promise<string | undefined> {
    if (isCommitHash(revision)) return revision;
    try {
      const text = (await readFile(join(this.repoDir(modelId), "refs", revision), "utf8")).trim();
      return text === "" ? undefined : text;
    } catch {
      return undefined;
    }
  }

  async writeRef(modelId: string, revision: string, commit: string): Promise<void> {
    if (revision === commit) return;
    await atomicWrite(join(this.repoDir(modelId), "refs", revision), commit);
  }

  /** Whether the snapshot holds `file` whole: the link exists and its blob has the manifest's size. */
  async hasFile(modelId: string, revision: string, file: ManifestFile): Promise<boolean> {
    try {
      const info = await stat(this.snapshotFile(modelId, revision, file.path));
      return info.isFile() && info.size === file.size;
    } catch {
      return false;
    }
  }

  /** Moves a verified download into `blobs/<sha256>` and links it from the snapshot. */
  async commitFile(
    modelId: string,
    revision: string,
    path: string,
    tempPath: string,
    sha256: string,
  ): Promise<string> {
    const blob = this.blobPath(modelId, sha256);
    const link = this.snapshotFile(modelId, revision, path);
    try {
      await rename(tempPath, blob);
      await mkdir(dirname(link), { recursive: true });
      const target = relative(dirname(link), blob);
      const existing = await readlink(link).catch(() => undefined);
      if (existing !== target) {
        await rm(link, { force: true });
        await symlink(target, link);
      }
    } catch (error) {
      throw diskError(error, link);
    }
    return link;
  }

  async readManifest(modelId: string, commit: string): Promise<Manifest | undefined> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.manifestPath(modelId, commit), "utf8"));
      return isManifest(parsed) ? parsed : undefined;
    } catch {
      return undefined;
    }
  }

  async writeManifest(manifest: Manifest): Promise<void> {
    await atomicWrite(this.manifestPath(manifest.modelId, manifest.revision), JSON.stringify(manifest));
  }

  /** Whether every file of the manifest is whole in the snapshot. */
  async hasAll(manifest: Manifest): Promise<boolean> {
    const present = await Promise.all(
      manifest.files.map((f) => this.hasFile(manifest.modelId, manifest.revision, f)),
    );
    return present.every(Boolean);
  }

  private manifestPath(modelId: string, commit: string): string {
    return join(this.repoDir(modelId), ".kvasir", "manifests", `${commit}.json`);
  }
}

/** Writes a small file so that readers see the old content or the new, never a part. */
export async function atomicWrite(path: string, content: string): Promise<void> {
  // Unique per call: two writers of one file in one process must not share a temporary file.
  const temp = `${path}.${randomUUID()}.tmp`;
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(temp, content);
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw diskError(error, path);
  }
}

function isManifest(value: unknown): value is Manifest {
  if (typeof value !== "object" || value === null) return false;
  const m = value as Partial<Manifest>;
  return (
    typeof m.modelId === "string" &&
    typeof m.revision === "string" &&
    typeof m.chunkSize === "number" &&
    Array.isArray(m.files)
  );
}
