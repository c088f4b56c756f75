import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { withFileLock } from "../src/file-lock.js";

let dir: string | undefined;
afterEach(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("download locks", () => {
  it("let one holder in at a time", async () => {
    dir = await mkdtemp(join(tmpdir(), "kvasir-lock-"));
    const path = join(dir, ".locks", "models--a--b", "x.lock");
    let inside = 0;
    let most = 0;
    const work = async () => {
      inside++;
      most = Math.max(most, inside);
      await new Promise((resolve) => setTimeout(resolve, 20));
      inside--;
    };
    await Promise.all(Array.from({ length: 4 }, () => withFileLock(path, work, 5)));
    expect(most).toBe(1);
  });

  it("take over a lock whose owner is gone", async () => {
    dir = await mkdtemp(join(tmpdir(), "kvasir-lock-"));
    const path = join(dir, "y.lock");
    // A pid beyond the kernel's default pid_max: no such process.
    await writeFile(path, "4194305\nstale");
    expect(await withFileLock(path, async () => "ran", 5)).toBe("ran");
  });
});
