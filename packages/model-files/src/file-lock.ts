// A lock file per download (huggingface_hub keeps `.locks/models--org--name/<hash>.lock` the same way), so that
// workers on one host sharing a cache, or two workers in one process, never write the same temp file at once.
// Created with O_EXCL and holding its owner's pid; a lock whose owner is gone is taken over.
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { diskError } from "./errors.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but is someone else's.
    return error instanceof Error && "code" in error && error.code === "EPERM";
  }
}

/** Runs `work` holding the lock at `path`, waiting (polling every `pollMs`) while another live process holds it. */
export async function withFileLock<T>(path: string, work: () => Promise<T>, pollMs = 100): Promise<T> {
  await mkdir(dirname(path), { recursive: true }).catch((error: unknown) => {
    throw diskError(error, path);
  });
  const token = `${process.pid}\n${Math.random().toString(36).slice(2)}`;
  for (;;) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(token);
      await handle.close();
      break;
    } catch (error) {
      if (!(error instanceof Error && "code" in error && error.code === "EEXIST"))
        throw diskError(error, path);
      const owner = Number((await readFile(path, "utf8").catch(() => "")).split("\n")[0]);
      // A lock left by a process that died (or half-written just now: retried next round) is removed.
      if (Number.isInteger(owner) && owner > 0 && !alive(owner)) await rm(path, { force: true });
      else await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }
  try {
    return await work();
  } finally {
    // Only our own lock: a stale-lock takeover by another process must not be undone by us.
    if ((await readFile(path, "utf8").catch(() => "")) === token) await rm(path, { force: true });
  }
}
