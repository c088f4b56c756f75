import { describe, expect, it } from "vitest";
import type { CompletionTiming } from "./openai-client.js";
import { summarizeRun } from "./run-summary.js";

function timing(over: Partial<CompletionTiming>): CompletionTiming {
  return {
    ok: true,
    status: 200,
    sentAt: 0,
    itlMs: [],
    e2eMs: 0,
    promptTokens: 0,
    completionTokens: 0,
    cachedTokens: 0,
    ...over,
  };
}

describe("summarizeRun", () => {
  it("aggregates successes and lists failures apart", () => {
    const s = summarizeRun([
      timing({
        sentAt: 0,
        e2eMs: 1000,
        ttftMs: 100,
        itlMs: [10, 20],
        promptTokens: 100,
        cachedTokens: 50,
        completionTokens: 3,
      }),
      timing({
        sentAt: 500,
        e2eMs: 1500,
        ttftMs: 300,
        itlMs: [30],
        promptTokens: 300,
        cachedTokens: 0,
        completionTokens: 2,
      }),
      timing({ ok: false, status: 503, sentAt: 600, e2eMs: 5, error: "HTTP 503: busy" }),
    ]);
    expect(s.requests).toBe(3);
    expect(s.succeeded).toBe(2);
    expect(s.errors).toEqual(["HTTP 503: busy"]);
    expect(s.ttftMs.p50).toBe(200);
    expect(s.itlMs.count).toBe(3);
    // (1000 - 100) / 2 and (1500 - 300) / 1.
    expect(s.tpotMs.p50).toBe((450 + 1200) / 2);
    expect(s.wallSeconds).toBe(2);
    expect(s.outputTokensPerSecond).toBe(2.5);
    expect(s.prefixHitRate).toBe(0.125);
  });
});
