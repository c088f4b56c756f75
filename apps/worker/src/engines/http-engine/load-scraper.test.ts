import { parsePrometheusFamilies } from "@kvasir/engine-wire";
import { describe, expect, it } from "vitest";
import { rankLoads, shareOf } from "./load-scraper.js";

// vLLM labels each dp rank's series with `engine` (vllm/v1/metrics/loggers.py); SGLang with `dp_rank`.
const vllm = `# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="m"} 3.0
vllm:num_requests_running{engine="1",model_name="m"} 1.0
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="m"} 2.0
vllm:num_requests_waiting{engine="1",model_name="m"} 0.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.5
vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.25
`;

describe("engine load per dp rank", () => {
  it("reads each rank's series by vLLM's engine label", () => {
    expect(rankLoads("vllm", parsePrometheusFamilies(vllm), 2)).toEqual([
      { running: 3, waiting: 2, kvUsage: 0.5 },
      { running: 1, waiting: 0, kvUsage: 0.25 },
    ]);
  });

  it("reads SGLang's dp_rank label, and gives up when a rank is missing or unlabelled", () => {
    const sglang = vllm
      .replaceAll("vllm:num_requests_running", "sglang:num_running_reqs")
      .replaceAll("vllm:num_requests_waiting", "sglang:num_queue_reqs")
      .replaceAll("vllm:kv_cache_usage_perc", "sglang:token_usage")
      .replaceAll("engine=", "dp_rank=");
    expect(rankLoads("sglang", parsePrometheusFamilies(sglang), 2)?.[0]).toEqual({
      running: 3,
      waiting: 2,
      kvUsage: 0.5,
    });
    expect(rankLoads("vllm", parsePrometheusFamilies(vllm), 3)).toBeUndefined();
    expect(rankLoads("vllm", parsePrometheusFamilies(vllm.replaceAll('engine="1",', "")), 2)).toBeUndefined();
  });

  it("shares totals as evenly as whole numbers allow", () => {
    expect([0, 1, 2].map((rank) => shareOf(7, 3, rank))).toEqual([3, 2, 2]);
  });
});
