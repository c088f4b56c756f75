import { describe, expect, it } from "vitest";
import { selector, trafficQueries } from "./prometheus-source.js";
import { totalsFromText } from "./scrape-source.js";
import { addTotals, increase, trafficOf, zeroTotals } from "./traffic.js";

const TEXT = (requests: number, ttftSum: number, count: number) => `
# TYPE dynamo_frontend_requests_started_total counter
dynamo_frontend_requests_started_total{model="qwen/qwen3-0.6b",endpoint="chat_completions",request_type="stream",dynamo_namespace="ns",dynamo_component="frontend"} ${requests}
dynamo_frontend_requests_started_total{model="other",endpoint="completions",request_type="unary",dynamo_namespace="elsewhere",dynamo_component="frontend"} 1000
# TYPE dynamo_frontend_time_to_first_token_seconds histogram
dynamo_frontend_time_to_first_token_seconds_bucket{le="0.1",model="qwen/qwen3-0.6b",dynamo_namespace="ns",dynamo_component="frontend"} ${count}
dynamo_frontend_time_to_first_token_seconds_bucket{le="+Inf",model="qwen/qwen3-0.6b",dynamo_namespace="ns",dynamo_component="frontend"} ${count}
dynamo_frontend_time_to_first_token_seconds_sum{model="qwen/qwen3-0.6b",dynamo_namespace="ns",dynamo_component="frontend"} ${ttftSum}
dynamo_frontend_time_to_first_token_seconds_count{model="qwen/qwen3-0.6b",dynamo_namespace="ns",dynamo_component="frontend"} ${count}
`;

describe("frontend traffic", () => {
  it("reads Dynamo's frontend families from /metrics text, for the namespace and model only", () => {
    const t = totalsFromText(TEXT(40, 2, 40), "ns", "Qwen/Qwen3-0.6B");
    expect(t.requests).toBe(40);
    expect(t.sums.ttft).toBe(2);
    expect(t.counts.ttft).toBe(40);
    expect(totalsFromText(TEXT(40, 2, 40), "ns", "another-model").requests).toBe(0);
  });

  it("differences counters between reads and survives a reset", () => {
    const a = totalsFromText(TEXT(40, 2, 40), "ns");
    const b = totalsFromText(TEXT(100, 5, 100), "ns");
    const d = increase(a, b);
    expect(d.requests).toBe(60);
    expect(trafficOf(d).ttftMs).toBeCloseTo(50);
    const restarted = totalsFromText(TEXT(5, 0.5, 5), "ns");
    expect(increase(b, restarted).requests).toBe(5);
    expect(trafficOf(increase(b, restarted)).ttftMs).toBeCloseTo(100);
    expect(addTotals(d, d).requests).toBe(120);
    expect(trafficOf(zeroTotals())).toEqual({
      requests: 0,
      isl: 0,
      osl: 0,
      ttftMs: 0,
      itlMs: 0,
      durationS: 0,
    });
  });

  it("asks Prometheus for the increase of each family over the interval, in the namespace", () => {
    const q = trafficQueries("ns", 10, "Qwen/Qwen3-0.6B");
    expect(q.requests).toBe(
      'sum(increase(dynamo_frontend_requests_started_total{dynamo_namespace="ns",model=~"(?i)Qwen/Qwen3-0\\\\.6B"}[10s]))',
    );
    expect(q.ttft_sum).toContain("dynamo_frontend_time_to_first_token_seconds_sum");
    expect(q.itl_count).toContain("dynamo_frontend_inter_token_latency_seconds_count");
    expect(selector('a"b')).toBe('{dynamo_namespace="a\\"b"}');
  });
});
