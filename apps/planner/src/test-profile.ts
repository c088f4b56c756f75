// A small performance table shaped like a profiled 1-GPU engine, for the unit tests.
import type { PerfTable } from "./perf-model.js";

export const TEST_TABLE: PerfTable = {
  prefill_isl: [128, 512, 1024, 2048, 4096],
  prefill_ttft_ms: [20, 50, 90, 180, 400],
  decode_active_kv_tokens: [1024, 8192, 32768, 65536],
  decode_context_length: [256, 1024, 4096],
  decode_itl: [
    [8, 9, 10],
    [12, 13, 15],
    [25, 27, 30],
    [45, 48, 52],
  ],
};
