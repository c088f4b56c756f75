// A small perf profile shaped like a profiled 1-GPU engine, for the unit tests.
import type { PerfProfile } from "@kvasir/protocol";

export const TEST_TABLE: PerfProfile = {
  prefillTokens: [128, 512, 1024, 2048, 4096],
  prefillMs: [20, 50, 90, 180, 400],
  decodeKvTokens: [1024, 8192, 32768, 65536],
  decodeContextLength: [256, 1024, 4096],
  decodeMs: [
    [8, 9, 10],
    [12, 13, 15],
    [25, 27, 30],
    [45, 48, 52],
  ],
};
