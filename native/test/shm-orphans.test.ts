// Shared-memory region files outlive a SIGKILLed engine; the next one to start removes those of dead processes.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { removeOrphanedShmFiles } from "../src/transfer.js";

const dir = mkdtempSync(join(tmpdir(), "kvasir-shm-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A process id that is certainly gone: a child that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
  return Number(child.stdout.toString());
}

describe("removeOrphanedShmFiles", () => {
  it("removes the region files of dead processes only", () => {
    const dead = join(dir, `kvasir-${deadPid()}-00000000000000ab-1`);
    const mine = join(dir, `kvasir-${process.pid}-00000000000000ab-2`);
    const other = join(dir, "kvasir-not-a-region");
    for (const file of [dead, mine, other]) writeFileSync(file, "x");
    expect(removeOrphanedShmFiles(dir)).toBe(1);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(mine)).toBe(true);
    expect(existsSync(other)).toBe(true);
  });

  it("tolerates a missing directory", () => {
    expect(removeOrphanedShmFiles(join(dir, "absent"))).toBe(0);
  });
});
