import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnNode, waitFor } from "@kvasir/testing";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createDiscovery, type Discovery } from "../src/index.js";
import { follow, registerScript } from "./helpers.js";

let dir: string;
let filePath: string;
const open: Discovery[] = [];

async function fileDiscovery(ttlMs = 5000): Promise<Discovery> {
  const discovery = await createDiscovery({ backend: "file", filePath, ttlMs });
  open.push(discovery);
  return discovery;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "kvasir-file-discovery-"));
  filePath = join(dir, "sub", "discovery.json");
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((discovery) => discovery.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe("file discovery", () => {
  it("two instances on one file see each other's entries, puts and deletes", async () => {
    const a = await fileDiscovery();
    const b = await fileDiscovery();
    await a.register("v1/instances/ns/backend/generate/01", { address: "http://127.0.0.1:1" });
    const watched = follow(b.watch("v1/instances/"));
    await waitFor(() => watched.live.size === 1);
    const lease = await a.register("v1/instances/ns/backend/generate/02", { address: "http://127.0.0.1:2" });
    await b.register("v1/mdc/ns/model/03", { name: "model" });
    await waitFor(() => watched.live.size === 2);
    expect(await b.list("v1/")).toHaveLength(3);
    await lease.revoke();
    await waitFor(() => watched.live.size === 1);
    expect([...watched.live.keys()]).toEqual(["v1/instances/ns/backend/generate/01"]);
    expect(watched.events.map((e) => e.type)).toEqual(["put", "put", "delete"]);
    watched.stop();
    await watched.done;
    // The file is plain JSON that other tools can read.
    const content = JSON.parse(readFileSync(filePath, "utf8")) as { entries: Record<string, unknown> };
    expect(Object.keys(content.entries).sort()).toEqual([
      "v1/instances/ns/backend/generate/01",
      "v1/mdc/ns/model/03",
    ]);
  });

  it("concurrent writers from two instances lose no registration", async () => {
    const a = await fileDiscovery();
    const b = await fileDiscovery();
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        (i % 2 === 0 ? a : b).register(`k/${String(i).padStart(2, "0")}`, i),
      ),
    );
    const entries = await a.list("k/");
    expect(entries.map((e) => e.value).sort((x, y) => Number(x) - Number(y))).toEqual(
      Array.from({ length: 40 }, (_, i) => i),
    );
  });

  it("close revokes every lease of that instance only", async () => {
    const a = await fileDiscovery();
    const b = await fileDiscovery();
    await a.register("c/a1", 1);
    await a.register("c/a2", 2);
    await b.register("c/b1", 3);
    await a.close();
    expect(await b.list("c/")).toEqual([{ key: "c/b1", value: 3 }]);
  });

  it("an entry whose owner process is killed expires after the TTL; SIGTERM deregisters at once", async () => {
    const ttlMs = 1200;
    const watcher = await fileDiscovery(ttlMs);
    const watched = follow(watcher.watch("p/"));
    const options = JSON.stringify({ backend: "file", filePath, ttlMs });
    const [killed, stopped] = await Promise.all([
      spawnNode(registerScript, [options, "p/killed", '"k"'], { readyLine: /registered/ }),
      spawnNode(registerScript, [options, "p/stopped", '"s"'], { readyLine: /registered/ }),
    ]);
    await waitFor(() => watched.live.size === 2, { timeoutMs: 3000 });
    // Heartbeats keep both alive well past one TTL.
    await new Promise((resolve) => setTimeout(resolve, ttlMs * 2));
    expect(watched.live.size).toBe(2);

    killed.kill("SIGKILL");
    await killed.exited;
    await waitFor(() => !watched.live.has("p/killed"), { timeoutMs: ttlMs * 3 });
    expect(watched.live.has("p/stopped")).toBe(true);

    stopped.kill("SIGTERM");
    expect((await stopped.exited).code).toBe(0);
    expect(await watcher.list("p/")).toEqual([]);
    await waitFor(() => watched.live.size === 0);
    watched.stop();
  });

  it("breaks a lock left behind by a dead process or held too long", async () => {
    const a = await fileDiscovery();
    await a.register("l/first", 1);
    const lockPath = `${filePath}.lock`;
    // A pid that is not running: a finished child's.
    const deadPid = spawnSync(process.execPath, ["-e", ""]).pid;
    writeFileSync(lockPath, `${deadPid} leftover`);
    await a.register("l/dead-holder", 2);
    writeFileSync(lockPath, `${process.pid} old`);
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockPath, old, old);
    await a.register("l/old-lock", 3);
    expect((await a.list("l/")).map((e) => e.key).sort()).toEqual(["l/dead-holder", "l/first", "l/old-lock"]);
  });
});
