// Checkpoint storage: one directory per checkpoint id under the storage path (a shared volume in Kubernetes),
// holding the CRIU images, the manifest and the checkpoint's record. Records are replaced atomically (write to a
// temporary file, then rename) so a reader never sees half a record.
import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { IdentityFields } from "./identity.js";
import { isCheckpointId } from "./identity.js";
import { type Manifest, parseManifest } from "./manifest.js";

export type Phase = "Pending" | "Creating" | "Ready" | "Failed";

export interface CheckpointRecord {
  id: string;
  identity: IdentityFields;
  phase: Phase;
  message: string;
  /** Unix ms when the checkpoint became Ready (0 before). */
  createdAtMs: number;
  lastUsedAtMs: number;
  sizeBytes: number;
  /** How to reach the engine again after a restore (its URL, KV-event endpoints), as the worker gave it. */
  engine: Record<string, string>;
  /** The process held CUDA state when dumped; its restore gives it back with cuda-checkpoint. */
  cuda: boolean;
}

const RECORD = "checkpoint.json";
const MANIFEST = "manifest.json";

export class CheckpointStore {
  constructor(readonly root: string) {}

  dir(id: string): string {
    if (!isCheckpointId(id)) throw new Error(`not a checkpoint id: ${JSON.stringify(id)}`);
    return join(this.root, id);
  }

  imagesDir(id: string): string {
    return join(this.dir(id), "images");
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  /** Empties (or creates) the checkpoint's images directory for a new dump. */
  async resetImages(id: string): Promise<string> {
    const images = this.imagesDir(id);
    await rm(images, { recursive: true, force: true });
    await rm(join(this.dir(id), MANIFEST), { force: true });
    await mkdir(images, { recursive: true });
    return images;
  }

  async write(record: CheckpointRecord): Promise<void> {
    await mkdir(this.dir(record.id), { recursive: true });
    await writeAtomic(join(this.dir(record.id), RECORD), `${JSON.stringify(record, null, 2)}\n`);
  }

  async writeManifest(id: string, manifest: Manifest): Promise<void> {
    await writeAtomic(join(this.dir(id), MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  }

  async readManifest(id: string): Promise<Manifest> {
    return parseManifest(await readFile(join(this.dir(id), MANIFEST), "utf8"));
  }

  async read(id: string): Promise<CheckpointRecord | undefined> {
    try {
      return parseRecord(await readFile(join(this.dir(id), RECORD), "utf8"));
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Every checkpoint with a readable record; directories without one (a crash before the first write) are skipped. */
  async list(): Promise<CheckpointRecord[]> {
    const entries = await readdir(this.root, { withFileTypes: true });
    const records: CheckpointRecord[] = [];
    for (const entry of entries) {
      if (!entry.isDirectory() || !isCheckpointId(entry.name)) continue;
      const record = await this.read(entry.name).catch(() => undefined);
      if (record) records.push(record);
    }
    return records;
  }

  async remove(id: string): Promise<void> {
    await rm(this.dir(id), { recursive: true, force: true });
  }
}

async function writeAtomic(path: string, text: string): Promise<void> {
  // Unique per call: two writers of one record must not share a temporary file.
  const temporary = `${path}.${randomUUID()}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && "code" in error && error.code === "ENOENT";
}

const recordSchema = z.object({
  id: z.string(),
  identity: z.object({
    model: z.string(),
    backend: z.string(),
    backendVersion: z.string(),
    tensorParallelSize: z.number().int(),
    pipelineParallelSize: z.number().int(),
    dtype: z.string(),
    maxModelLen: z.number().int(),
    extraParameters: z.record(z.string(), z.string()),
  }),
  phase: z.enum(["Pending", "Creating", "Ready", "Failed"]),
  message: z.string(),
  createdAtMs: z.number(),
  lastUsedAtMs: z.number(),
  sizeBytes: z.number(),
  engine: z.record(z.string(), z.string()),
  cuda: z.boolean(),
});

function parseRecord(text: string): CheckpointRecord {
  return recordSchema.parse(JSON.parse(text));
}
