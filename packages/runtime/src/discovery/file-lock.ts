import { randomBytes } from "node:crypto";
import { link, open, readFile, rename, stat, unlink } from "node:fs/promises";

export interface FileLockOptions {
  /** A lock older than this is taken to be left behind by a crashed holder. */
  staleMs?: number;
  /** Give up acquiring after this long. */
  timeoutMs?: number;
}

/**
 * Runs `fn` holding an exclusive lock file (created with O_EXCL) shared by every process on the host. A lock
 * whose holder process is gone, or that is older than `staleMs`, is broken.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const { staleMs = 10_000, timeoutMs = 15_000 } = options;
  const token = `${process.pid} ${randomBytes(6).toString("hex")}`;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 0; ; attempt++) {
    if (await tryCreate(lockPath, token)) break;
    await breakIfStale(lockPath, staleMs);
    if (Date.now() > deadline) throw new Error(`could not lock ${lockPath} within ${timeoutMs} ms`);
    await delay(Math.min(2 + attempt, 20) + Math.random() * 5);
  }
  try {
    return await fn();
  } finally {
    await unlink(lockPath).catch(() => {});
  }
}

async function tryCreate(lockPath: string, token: string): Promise<boolean> {
  try {
    const handle = await open(lockPath, "wx");
    try {
      await handle.writeFile(token);
    } catch (error) {
      await unlink(lockPath).catch(() => {});
      throw error;
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

async function breakIfStale(lockPath: string, staleMs: number): Promise<void> {
  let content: string;
  let ageMs: number;
  try {
    content = await readFile(lockPath, "utf8");
    ageMs = Date.now() - (await stat(lockPath)).mtimeMs;
  } catch {
    return; // Released meanwhile.
  }
  const pid = Number(content.split(" ")[0]);
  // An empty file is a holder between create and write; only age can make it stale.
  const holderGone = content !== "" && Number.isInteger(pid) && pid > 0 && !processAlive(pid);
  if (!holderGone && ageMs < staleMs) return;
  // Move the lock aside and check it is still the one judged stale; if another process re-took the lock in
  // between, put that one back.
  const aside = `${lockPath}.stale-${randomBytes(6).toString("hex")}`;
  try {
    await rename(lockPath, aside);
  } catch {
    return;
  }
  const moved = await readFile(aside, "utf8").catch(() => content);
  if (moved !== content) await link(aside, lockPath).catch(() => {});
  await unlink(aside).catch(() => {});
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
