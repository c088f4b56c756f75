// The engine's /metrics under the engine's own names (FORMATS.md "Engine load metrics"): vLLM's from
// vllm/v1/metrics/loggers.py (labels model_name and engine = dp rank), SGLang's from srt/metrics/collector.py.
// Kept in a prom-client registry and written out in Python prometheus_client's format (engine-wire's
// formatPrometheusText), so a scraper sees the bytes a real engine would send.
import { type ExpositionFamily, formatPrometheusText } from "@kvasir/engine-wire";
import type { LoadMetrics } from "@kvasir/protocol";
import { Counter, Gauge, Registry } from "prom-client";
import type { Protocol } from "./flags.js";

export interface EngineMetricsOptions {
  protocol: Protocol;
  model: string;
  blockSize: number;
  numGpuBlocks: number;
  dataParallelSize: number;
  enablePrefixCaching: boolean;
}

export class EngineMetrics {
  readonly registry = new Registry();
  private readonly running: Gauge;
  private readonly waiting: Gauge;
  private readonly usage: Gauge;
  private readonly promptTokens: Counter;
  private readonly generationTokens: Counter;
  private readonly rankLabels: Record<string, string>[];

  constructor(options: EngineMetricsOptions) {
    const vllm = options.protocol === "vllm";
    const ranks = Array.from({ length: options.dataParallelSize }, (_, r) => r);
    this.rankLabels = ranks.map(
      (r): Record<string, string> =>
        vllm
          ? { model_name: options.model, engine: String(r) }
          : {
              model_name: options.model,
              engine_type: "unified",
              tp_rank: "0",
              pp_rank: "0",
              ...(options.dataParallelSize > 1 ? { dp_rank: String(r) } : {}),
            },
    );
    const labelNames = Object.keys(this.rankLabels[0] ?? {});
    const gauge = (name: string, help: string) =>
      new Gauge({ name, help, labelNames, registers: [this.registry] });
    const counter = (name: string, help: string) =>
      new Counter({ name, help, labelNames, registers: [this.registry] });
    if (vllm) {
      this.running = gauge("vllm:num_requests_running", "Number of requests in model execution batches.");
      this.waiting = gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.");
      this.usage = gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.");
      this.promptTokens = counter("vllm:prompt_tokens_total", "Number of prefill tokens processed.");
      this.generationTokens = counter(
        "vllm:generation_tokens_total",
        "Number of generation tokens processed.",
      );
      const info = new Gauge({
        name: "vllm:cache_config_info",
        help: "Information of the LLMEngine CacheConfig",
        labelNames: ["block_size", "cache_dtype", "enable_prefix_caching", "engine", "num_gpu_blocks"],
        registers: [this.registry],
      });
      for (const r of ranks) {
        info.set(
          {
            block_size: String(options.blockSize),
            cache_dtype: "auto",
            enable_prefix_caching: options.enablePrefixCaching ? "True" : "False",
            engine: String(r),
            num_gpu_blocks: String(options.numGpuBlocks),
          },
          1,
        );
      }
    } else {
      this.running = gauge("sglang:num_running_reqs", "The number of running requests.");
      this.waiting = gauge("sglang:num_queue_reqs", "The number of requests in the waiting queue.");
      this.usage = gauge("sglang:token_usage", "The token usage.");
      this.promptTokens = counter("sglang:prompt_tokens_total", "Number of prefill tokens processed.");
      this.generationTokens = counter(
        "sglang:generation_tokens_total",
        "Number of generation tokens processed.",
      );
      new Gauge({
        name: "sglang:cache_config_info",
        help: "Information of the KV cache config.",
        labelNames: ["num_pages", "page_size"],
        registers: [this.registry],
      }).set({ num_pages: String(options.numGpuBlocks), page_size: String(options.blockSize) }, 1);
    }
    this.update([]);
  }

  /** Sets the gauges from the engine's per-rank figures (ranks absent from `ranks` read 0). */
  update(ranks: readonly LoadMetrics[]): void {
    this.rankLabels.forEach((labels, r) => {
      const m = ranks.find((x) => x.dpRank === r);
      this.running.set(labels, m?.numRequestsRunning ?? 0);
      this.waiting.set(labels, m?.numRequestsWaiting ?? 0);
      const total = Number(m?.totalKvBlocks ?? 0n);
      this.usage.set(labels, total > 0 ? Number(m?.activeKvBlocks ?? 0n) / total : 0);
    });
  }

  private counted = { prompt: 0, generation: 0 };

  /** Brings the token counters up to the engine's totals (all on rank 0's series: the totals are not split). */
  syncTokens(prompt: number, generation: number): void {
    const labels = this.rankLabels[0] ?? {};
    if (prompt > this.counted.prompt) this.promptTokens.inc(labels, prompt - this.counted.prompt);
    if (generation > this.counted.generation)
      this.generationTokens.inc(labels, generation - this.counted.generation);
    this.counted = { prompt, generation };
  }

  async text(): Promise<string> {
    const families: ExpositionFamily[] = (await this.registry.getMetricsAsJSON()).map((metric) => ({
      name: metric.name,
      help: metric.help,
      type: String(metric.type) === "counter" ? "counter" : "gauge",
      samples: metric.values.map((v) => ({
        labels: Object.fromEntries(Object.entries(v.labels).map(([k, x]) => [k, String(x)])),
        value: v.value,
      })),
    }));
    return formatPrometheusText(families);
  }
}
