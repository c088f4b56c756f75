// The manifest of a checkpoint's images: every file with its size and SHA-256, written when the checkpoint is made
// and verified before any restore, so a truncated or altered image is refused instead of restored.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import { z } from "zod";

export interface ManifestFile {
  /** Path relative to the images directory, with `/` separators. */
  path: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  version: 1;
  files: ManifestFile[];
  totalBytes: number;
}

export type ManifestProblem =
  | { kind: "missing"; path: string }
  | { kind: "size"; path: string; expected: number; actual: number }
  | { kind: "sha256"; path: string }
  | { kind: "unexpected"; path: string };

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(dir, join(entry.parentPath, entry.name)).split(sep).join("/"))
    .sort();
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk);
  return hash.digest("hex");
}

/** Hashes every file under `dir`. */
export async function buildManifest(dir: string): Promise<Manifest> {
  const files: ManifestFile[] = [];
  for (const path of await listFiles(dir)) {
    const full = join(dir, path);
    const { size } = await stat(full);
    files.push({ path, size, sha256: await sha256File(full) });
  }
  return { version: 1, files, totalBytes: files.reduce((sum, file) => sum + file.size, 0) };
}

/** Every difference between `dir` and its manifest (none: the images are intact). */
export async function verifyManifest(dir: string, manifest: Manifest): Promise<ManifestProblem[]> {
  const problems: ManifestProblem[] = [];
  const present = new Set(await listFiles(dir));
  for (const file of manifest.files) {
    if (!present.delete(file.path)) {
      problems.push({ kind: "missing", path: file.path });
      continue;
    }
    const full = join(dir, file.path);
    const { size } = await stat(full);
    // A size mismatch is found without reading the file; only same-size files are hashed.
    if (size !== file.size)
      problems.push({ kind: "size", path: file.path, expected: file.size, actual: size });
    else if ((await sha256File(full)) !== file.sha256) problems.push({ kind: "sha256", path: file.path });
  }
  for (const path of present) problems.push({ kind: "unexpected", path });
  return problems;
}

export function describeProblems(problems: readonly ManifestProblem[]): string {
  return problems
    .map((p) => {
      if (p.kind === "size") return `${p.path}: ${p.actual} bytes, manifest says ${p.expected}`;
      if (p.kind === "sha256") return `${p.path}: SHA-256 differs from the manifest`;
      if (p.kind === "missing") return `${p.path}: missing`;
      return `${p.path}: not in the manifest`;
    })
    .join("; ");
}

const manifestSchema = z.object({
  version: z.literal(1),
  files: z.array(
    z.object({ path: z.string().min(1), size: z.number().int().min(0), sha256: z.string().length(64) }),
  ),
  totalBytes: z.number().int().min(0),
});

/** Reads a manifest written by `JSON.stringify`, refusing anything else. */
export function parseManifest(text: string): Manifest {
  return manifestSchema.parse(JSON.parse(text));
}
