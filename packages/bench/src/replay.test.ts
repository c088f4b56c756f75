import { describe, expect, it } from "vitest";
import { type ReplayClock, replayOpenLoop, replaySchedule } from "./replay.js";

/** A clock that only moves when the replayer sleeps, so the schedule is checked without real time. */
function fakeClock(): ReplayClock & { sleeps: number[] } {
  let t = 1000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => t,
    sleep: async (ms) => {
      sleeps.push(ms);
      t += ms;
    },
  };
}

describe("replaySchedule", () => {
  it("offsets from the first timestamp, divided by the speedup", () => {
    expect(replaySchedule([0, 0, 100, 250], 1)).toEqual([0, 0, 100, 250]);
    expect(replaySchedule([500, 600, 1500], 10)).toEqual([0, 10, 100]);
    expect(() => replaySchedule([0], 0)).toThrow(/positive/);
  });
});

describe("replayOpenLoop", () => {
  it("sends each request at its offset without waiting for earlier ones", async () => {
    const clock = fakeClock();
    const sentAt: number[] = [];
    const gates: (() => void)[] = [];
    const run = replayOpenLoop(
      [0, 0, 50, 120],
      (i) => {
        sentAt.push(clock.now() - 1000);
        // No request finishes until all have been sent: an open loop must not wait for them.
        return new Promise<number>((resolve) => gates.push(() => resolve(i * 10)));
      },
      clock,
    );
    await new Promise((r) => setImmediate(r));
    expect(sentAt).toEqual([0, 0, 50, 120]);
    expect(clock.sleeps).toEqual([50, 70]);
    for (const open of gates) open();
    expect(await run).toEqual([0, 10, 20, 30]);
  });
});
