import { describe, expect, it } from "vitest";
import { loadAddon } from "../src/addon.js";
import { runStress } from "./stress.js";

describe("native index under concurrent writers and worker_thread readers", () => {
  it("never shows a torn result", async () => {
    const addon = loadAddon();
    if (!addon.ok) throw new Error(addon.reason);
    const r = await runStress(3, addon.path);
    expect(r.firstViolation).toBeUndefined();
    expect(r.violations).toBe(0);
    expect(r.events).toBeGreaterThan(1000);
    expect(r.lookups).toBeGreaterThan(1000);
  });
});
