import { describe, expect, it } from "vitest";
import { SeqTracker } from "./seq-tracker.js";

describe("SeqTracker", () => {
  it("expects seq 0 first, then each next one", () => {
    const t = new SeqTracker();
    expect(t.classify(0n)).toBe("next");
    t.applied(0n, true);
    expect(t.classify(1n)).toBe("next");
    expect(t.classify(3n)).toBe("gap");
  });

  it("starts after a snapshot's watermark", () => {
    const t = new SeqTracker(41n);
    expect(t.nextSeq).toBe(42n);
    expect(t.classify(42n)).toBe("next");
    expect(t.classify(50n)).toBe("gap");
  });

  it("reads a lower or repeated seq as an engine restart", () => {
    const t = new SeqTracker();
    for (const seq of [0n, 1n, 2n]) t.applied(seq, true);
    expect(t.classify(0n)).toBe("restart");
    expect(t.classify(2n)).toBe("restart");
    t.reset();
    expect(t.classify(0n)).toBe("next");
  });

  it("treats live batches already delivered by a replay as duplicates until the stream moves past them", () => {
    const t = new SeqTracker();
    t.applied(0n, true);
    // Live seq 3 arrives: 1 and 2 are missing, a replay brings 1..4.
    expect(t.classify(3n)).toBe("gap");
    t.replayStarting();
    for (const seq of [1n, 2n, 3n, 4n]) t.applied(seq, false);
    expect(t.classify(3n)).toBe("duplicate");
    expect(t.classify(4n)).toBe("duplicate");
    expect(t.classify(5n)).toBe("next");
    t.applied(5n, true);
    // Past the replay, a low seq is a restart again.
    expect(t.classify(2n)).toBe("restart");
  });
});
