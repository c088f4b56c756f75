import { describe, expect, it } from "vitest";
import {
  EngineMetricsError,
  formatPrometheusText,
  formatPromFloat,
  parseEngineMetrics,
} from "./engine-metrics.js";

const VLLM = `# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 2.0
vllm:num_requests_running{engine="1",model_name="m"} 1.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 4.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.5
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="32",engine="0",num_gpu_blocks="1000"} 1.0
`;

describe("parseEngineMetrics", () => {
  it("sums counts over engines and takes the highest KV usage (vLLM)", () => {
    expect(parseEngineMetrics("vllm", VLLM)).toEqual({
      runningRequests: 3,
      waitingRequests: 4,
      kvUsage: 0.5,
      blockSize: 32,
      totalBlocks: 1000,
    });
  });

  it("reads SGLang capacity from the v0.5.11 gauges or the older cache_config_info labels", () => {
    const base = `sglang:num_running_reqs{tp_rank="0"} 1.0\nsglang:num_queue_reqs{tp_rank="0"} 0.0\nsglang:token_usage{tp_rank="0"} 0.1\n`;
    expect(
      parseEngineMetrics("sglang", `${base}sglang:page_size 16.0\nsglang:num_pages 64.0\n`),
    ).toMatchObject({
      runningRequests: 1,
      blockSize: 16,
      totalBlocks: 64,
    });
    const old = parseEngineMetrics(
      "sglang",
      `${base}sglang:cache_config_info{num_pages="8",page_size="1"} 1.0\n`,
    );
    expect(old).toMatchObject({ blockSize: 1, totalBlocks: 8, kvUsage: 0.1 });
  });

  it("rejects a scrape of the other engine kind", () => {
    expect(() => parseEngineMetrics("sglang", VLLM)).toThrow(EngineMetricsError);
  });
});

describe("formatPrometheusText", () => {
  it("writes floats as Python's prometheus_client does", () => {
    expect(formatPromFloat(1)).toBe("1.0");
    expect(formatPromFloat(0)).toBe("0.0");
    expect(formatPromFloat(0.0625)).toBe("0.0625");
    expect(formatPromFloat(0.00001)).toBe("1e-05");
    expect(formatPromFloat(1234567)).toBe("1.234567e+06");
    expect(formatPromFloat(Number.POSITIVE_INFINITY)).toBe("+Inf");
  });

  it("sorts labels and escapes values", () => {
    const text = formatPrometheusText([
      { name: "x:y", help: "h", type: "gauge", samples: [{ labels: { z: 'a"b', a: "1" }, value: 2 }] },
    ]);
    expect(text).toBe('# HELP x:y h\n# TYPE x:y gauge\nx:y{a="1",z="a\\"b"} 2.0\n');
  });
});
