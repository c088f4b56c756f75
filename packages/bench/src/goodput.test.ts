import { describe, expect, it } from "vitest";
import { failureReasons, goodput, meetsSla } from "./goodput.js";
import type { CompletionTiming } from "./openai-client.js";

function timing(over: Partial<CompletionTiming>): CompletionTiming {
  return {
    ok: true,
    status: 200,
    sentAt: 0,
    ttftMs: 100,
    itlMs: [10, 10, 10],
    e2eMs: 130,
    promptTokens: 10,
    completionTokens: 4,
    cachedTokens: 0,
    ...over,
  };
}

const sla = { ttftMs: 2000, itlMs: 50 };

describe("meetsSla", () => {
  it("holds TTFT and the mean token gap to the SLA, limits included", () => {
    expect(meetsSla(timing({}), sla)).toBe(true);
    expect(meetsSla(timing({ ttftMs: 2000 }), sla)).toBe(true);
    expect(meetsSla(timing({ ttftMs: 2000.5 }), sla)).toBe(false);
    expect(meetsSla(timing({ itlMs: [50, 50] }), sla)).toBe(true);
    expect(meetsSla(timing({ itlMs: [40, 70] }), sla)).toBe(false);
  });

  it("strict mode fails a request on one long gap that the mean forgives", () => {
    const stalled = timing({ itlMs: [10, 10, 10, 10, 90] });
    expect(meetsSla(stalled, sla)).toBe(true);
    expect(meetsSla(stalled, sla, true)).toBe(false);
  });

  it("never counts a failed request or one without a first token", () => {
    expect(meetsSla(timing({ ok: false }), sla)).toBe(false);
    const { ttftMs: _ttft, ...noFirst } = timing({});
    expect(meetsSla(noFirst, sla)).toBe(false);
  });

  it("a one-token request is judged on TTFT alone", () => {
    expect(meetsSla(timing({ itlMs: [] }), sla, true)).toBe(true);
  });
});

describe("goodput", () => {
  it("is requests meeting the SLA per second of the run, failures counted as misses", () => {
    const g = goodput(
      [
        timing({}),
        timing({ ttftMs: 3000 }),
        timing({ itlMs: [10, 200] }),
        timing({ itlMs: [10, 10, 10, 60] }),
        timing({ ok: false, status: 503 }),
      ],
      sla,
      2,
    );
    expect(g.met).toBe(2);
    expect(g.metStrict).toBe(1);
    expect(g.requestsPerSecond).toBe(1);
    expect(g.strictRequestsPerSecond).toBe(0.5);
    expect(g.fraction).toBeCloseTo(0.4);
  });

  it("is zero for an empty run", () => {
    expect(goodput([], sla, 0)).toEqual({
      met: 0,
      metStrict: 0,
      requestsPerSecond: 0,
      strictRequestsPerSecond: 0,
      fraction: 0,
    });
  });
});

describe("failureReasons", () => {
  it("groups failures by status, or by message with numbers and ids blanked", () => {
    const reasons = failureReasons([
      timing({}),
      timing({ ok: false, status: 503, error: "HTTP 503: no workers" }),
      timing({ ok: false, status: 503, error: "HTTP 503: busy" }),
      timing({ ok: false, status: 0, error: "connect ECONNREFUSED 127.0.0.1:4312" }),
      timing({ ok: false, status: 0, error: "connect ECONNREFUSED 127.0.0.1:4999" }),
      timing({ ok: false, status: 200, error: "stream ended without [DONE]" }),
    ]);
    expect(reasons).toEqual({
      "HTTP 503": 2,
      "connect ECONNREFUSED <n>.<n>.<n>.<n>:<n>": 2,
      "stream ended without [DONE]": 1,
    });
  });
});
