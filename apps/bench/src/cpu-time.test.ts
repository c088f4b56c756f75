import { describe, expect, it } from "vitest";
import { parseProcStat, processCpuMs } from "./cpu-time.js";

describe("parseProcStat", () => {
  it("reads utime and stime, counting fields after a command name with spaces and parentheses", () => {
    const stat = "4242 (node (a b)) S 1 4242 4242 0 -1 4194560 9 0 0 0 250 37 0 0 20 0 11 0 100 0 0";
    expect(parseProcStat(stat)).toEqual({ user: 2500, system: 370 });
  });

  it("refuses text that is not a stat line", () => {
    expect(() => parseProcStat("no parenthesis here")).toThrow(/stat/);
    expect(() => parseProcStat("1 (x) S 1")).toThrow(/utime/);
  });

  it("reads this process's own CPU time", () => {
    const { user, system } = processCpuMs(process.pid);
    expect(user).toBeGreaterThanOrEqual(0);
    expect(system).toBeGreaterThanOrEqual(0);
  });
});
