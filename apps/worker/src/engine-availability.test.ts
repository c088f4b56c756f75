import { createLogger } from "@kvasir/telemetry";
import { describe, expect, it } from "vitest";
import { EngineAvailability } from "./engine-availability.js";

function harness() {
  const live = new Set<string>();
  const calls: string[] = [];
  let n = 0;
  const availability = new EngineAvailability({
    register: async () => {
      const key = `entry-${++n}`;
      live.add(key);
      calls.push("register");
      return [{ key, revoke: async () => void live.delete(key) }];
    },
    stop: async () => void calls.push("stop"),
    failed: (reason) => calls.push(`failed: ${reason}`),
    log: createLogger("test"),
  });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));
  return { live, calls, availability, settle };
}

describe("a worker's registration follows its engine", () => {
  it("leaves discovery while the engine is down and comes back once it is up", async () => {
    const { live, calls, availability, settle } = harness();
    await availability.registerFirst();
    expect(live.size).toBe(1);
    availability.changed(false, "exited with code 1", false);
    await settle();
    expect(live.size).toBe(0);
    availability.changed(true, "ready again", false);
    await settle();
    expect(live.size).toBe(1);
    expect(calls).toEqual(["register", "register"]);
  });

  it("does not register a worker whose engine went down before it was ready to", async () => {
    const { live, availability, settle } = harness();
    availability.changed(false, "killed by SIGKILL", false);
    await availability.registerFirst();
    expect(live.size).toBe(0);
    // Back up after the worker finished starting: registered then.
    availability.changed(true, "ready again", false);
    await settle();
    expect(live.size).toBe(1);
  });

  it("deregisters and stops the worker when the engine is gone for good", async () => {
    const { live, calls, availability, settle } = harness();
    await availability.registerFirst();
    availability.changed(false, "exited with code 1", true);
    await settle();
    await settle();
    expect(live.size).toBe(0);
    expect(calls).toEqual(["register", "stop", "failed: exited with code 1"]);
  });
});
