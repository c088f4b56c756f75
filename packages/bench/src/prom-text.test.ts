import { describe, expect, it } from "vitest";
import { histogram, histogramQuantile, parsePromText, sumBy } from "./prom-text.js";

const TEXT = `# HELP dynamo_component_kv_transfer_seconds Time to pull
# TYPE dynamo_component_kv_transfer_seconds histogram
dynamo_component_kv_transfer_seconds_bucket{le="0.1",transport="shm",worker_id="a"} 2
dynamo_component_kv_transfer_seconds_bucket{le="0.25",transport="shm",worker_id="a"} 6
dynamo_component_kv_transfer_seconds_bucket{le="+Inf",transport="shm",worker_id="a"} 8
dynamo_component_kv_transfer_seconds_sum{transport="shm",worker_id="a"} 1.5
dynamo_component_kv_transfer_seconds_count{transport="shm",worker_id="a"} 8
dynamo_component_kv_transfer_seconds_bucket{le="0.1",transport="shm",worker_id="b"} 0
dynamo_component_kv_transfer_seconds_bucket{le="0.25",transport="shm",worker_id="b"} 2
dynamo_component_kv_transfer_seconds_bucket{le="+Inf",transport="shm",worker_id="b"} 2
dynamo_component_kv_transfer_seconds_sum{transport="shm",worker_id="b"} 0.3
dynamo_component_kv_transfer_seconds_count{transport="shm",worker_id="b"} 2
dynamo_frontend_disaggregated_requests_total{model="m",prefill="remote"} 7
dynamo_frontend_disaggregated_requests_total{model="m",prefill="fallback"} 1
dynamo_frontend_disaggregated_requests_total{model="other",prefill="remote"} 4
odd_label{msg="say \\"hi\\", then go"} 1e3
`;

describe("parsePromText", () => {
  it("reads names, labels (escapes included) and values, skipping comments", () => {
    const samples = parsePromText(TEXT);
    expect(samples).toHaveLength(14);
    expect(samples[2]).toEqual({
      name: "dynamo_component_kv_transfer_seconds_bucket",
      labels: { le: "+Inf", transport: "shm", worker_id: "a" },
      value: 8,
    });
    expect(samples.at(-1)).toEqual({ name: "odd_label", labels: { msg: 'say "hi", then go' }, value: 1000 });
  });
});

describe("sumBy", () => {
  it("sums counters by one label, within a label filter", () => {
    const samples = parsePromText(TEXT);
    expect(sumBy(samples, "dynamo_frontend_disaggregated_requests_total", "prefill")).toEqual({
      remote: 11,
      fallback: 1,
    });
    expect(sumBy(samples, "dynamo_frontend_disaggregated_requests_total", "prefill", { model: "m" })).toEqual(
      { remote: 7, fallback: 1 },
    );
    expect(sumBy(samples, "absent_total", "prefill")).toEqual({});
  });
});

describe("histogram quantiles", () => {
  const h = histogram(parsePromText(TEXT), "dynamo_component_kv_transfer_seconds");

  it("sums buckets, count and sum over series", () => {
    expect(h.buckets).toEqual([
      { le: 0.1, count: 2 },
      { le: 0.25, count: 8 },
      { le: Number.POSITIVE_INFINITY, count: 10 },
    ]);
    expect(h.count).toBe(10);
    expect(h.sum).toBeCloseTo(1.8);
  });

  it("interpolates inside the bucket holding the rank", () => {
    // rank 1 of 10 falls in the first bucket (0..0.1, 2 samples): halfway.
    expect(histogramQuantile(h, 0.1)).toBeCloseTo(0.05);
    // rank 5: 3 of the 6 samples in (0.1, 0.25].
    expect(histogramQuantile(h, 0.5)).toBeCloseTo(0.175);
  });

  it("answers the highest finite bound in +Inf and NaN when empty", () => {
    expect(histogramQuantile(h, 0.99)).toBe(0.25);
    expect(histogramQuantile(histogram([], "x"), 0.5)).toBeNaN();
  });

  it("filters series by label", () => {
    const b = histogram(parsePromText(TEXT), "dynamo_component_kv_transfer_seconds", { worker_id: "b" });
    expect(b.count).toBe(2);
    expect(histogramQuantile(b, 0.5)).toBeCloseTo(0.175);
  });
});
