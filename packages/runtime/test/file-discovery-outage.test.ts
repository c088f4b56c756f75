// The file backend's heartbeats: a run of failed writes is told once (not swallowed), and once the file can be
// written again the owner's entries are back in it, even if the file was lost.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sleep, waitFor } from "@kvasir/testing";
import { afterAll, describe, expect, it } from "vitest";
import { createDiscovery, type DiscoveryStatusEvent } from "../src/index.js";

const root = mkdtempSync(join(tmpdir(), "kvasir-file-outage-"));

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("file discovery heartbeats", () => {
  it("report a run of failures once, then recover and write the entries into a lost file again", async () => {
    const dir = join(root, "shared");
    const filePath = join(dir, "discovery.json");
    const ttlMs = 600;
    const owner = await createDiscovery({ backend: "file", filePath, ttlMs });
    const reader = await createDiscovery({ backend: "file", filePath, ttlMs });
    const events: DiscoveryStatusEvent["type"][] = [];
    owner.onStatus?.((event) => events.push(event.type));
    await owner.register("v1/instances/ns/backend/generate/01", { address: "http://127.0.0.1:1" });

    // The directory is gone and a plain file stands in its way: no write can succeed.
    rmSync(dir, { recursive: true, force: true });
    writeFileSync(dir, "");
    await sleep(3 * ttlMs);
    expect(events).toEqual(["heartbeat_failed"]);

    rmSync(dir, { force: true });
    await waitFor(async () => (await reader.list("v1/instances/").catch(() => [])).length === 1, {
      timeoutMs: 3000,
      message: "the entry is written again",
    });
    await waitFor(() => events.includes("heartbeat_recovered"), { timeoutMs: 2000 });
    expect(events).toEqual(["heartbeat_failed", "heartbeat_recovered"]);
    await Promise.all([owner.close(), reader.close()]);
  });
});
