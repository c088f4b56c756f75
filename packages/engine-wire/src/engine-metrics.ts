/// <reference path="./parse-prometheus-text-format.d.ts" />
// The load an engine reports on its Prometheus `/metrics`, read the way the Gateway API Inference Extension's
// model server protocol reads it (FORMATS.md "Engine load metrics"):
//   vLLM (vllm/v1/metrics/loggers.py): vllm:num_requests_running, vllm:num_requests_waiting,
//     vllm:kv_cache_usage_perc (0..1), vllm:cache_config_info{block_size, num_gpu_blocks} (an info gauge = 1).
//   SGLang (python/sglang/srt/metrics/collector.py): sglang:num_running_reqs, sglang:num_queue_reqs,
//     sglang:token_usage (0..1); capacity as the gauges sglang:page_size / sglang:num_pages from v0.5.11, before
//     that as labels of sglang:cache_config_info{page_size, num_pages}.
// Engines label every series (model_name, engine or dp/tp ranks); a reading sums counts over series and takes the
// highest usage, which is what one engine process with several dp ranks amounts to.
import parsePrometheusTextFormat from "parse-prometheus-text-format";

export type EngineProtocol = "vllm" | "sglang";

export const VLLM_METRICS = {
  running: "vllm:num_requests_running",
  waiting: "vllm:num_requests_waiting",
  kvUsage: "vllm:kv_cache_usage_perc",
  cacheConfig: "vllm:cache_config_info",
  loraInfo: "vllm:lora_requests_info",
} as const;

export const SGLANG_METRICS = {
  running: "sglang:num_running_reqs",
  waiting: "sglang:num_queue_reqs",
  kvUsage: "sglang:token_usage",
  cacheConfig: "sglang:cache_config_info",
  pageSize: "sglang:page_size",
  numPages: "sglang:num_pages",
} as const;

/** One scrape of an engine, reduced to what routing and planning need. */
export interface EngineLoadReading {
  runningRequests: number;
  waitingRequests: number;
  /** KV cache in use, 0..1. */
  kvUsage: number;
  /** Tokens per KV block (vLLM block_size, SGLang page_size), when the engine reports it. */
  blockSize?: number;
  /** Total KV blocks (vLLM num_gpu_blocks, SGLang num_pages), when the engine reports it. */
  totalBlocks?: number;
}

export class EngineMetricsError extends Error {}

type Families = Map<string, ReturnType<typeof parsePrometheusTextFormat>[number]>;

function families(text: string): Families {
  let parsed: ReturnType<typeof parsePrometheusTextFormat>;
  try {
    parsed = parsePrometheusTextFormat(text);
  } catch (error) {
    throw new EngineMetricsError(
      `not Prometheus text exposition: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return new Map(parsed.map((family) => [family.name, family]));
}

function values(all: Families, name: string): number[] {
  const family = all.get(name);
  if (!family) return [];
  return family.metrics.map((sample) => Number(sample.value)).filter((value) => Number.isFinite(value));
}

function sum(all: Families, name: string, required: boolean): number {
  const found = values(all, name);
  if (found.length === 0 && required) throw new EngineMetricsError(`metric ${name} missing`);
  return found.reduce((a, b) => a + b, 0);
}

function max(all: Families, name: string, required: boolean): number {
  const found = values(all, name);
  if (found.length === 0 && required) throw new EngineMetricsError(`metric ${name} missing`);
  return found.length === 0 ? 0 : Math.max(...found);
}

function label(all: Families, name: string, key: string): number | undefined {
  for (const sample of all.get(name)?.metrics ?? []) {
    const raw = sample.labels?.[key];
    if (raw === undefined) continue;
    const value = Number(raw);
    if (Number.isFinite(value)) return value;
  }
  return undefined;
}

function firstValue(all: Families, name: string): number | undefined {
  const found = values(all, name);
  return found.length === 0 ? undefined : found[0];
}

/**
 * Reads an engine's load from its `/metrics` text. Throws EngineMetricsError when the text is not Prometheus
 * exposition or lacks the running/waiting/usage series (an engine of the other kind, or not started).
 */
export function parseEngineMetrics(protocol: EngineProtocol, text: string): EngineLoadReading {
  const all = families(text);
  const names = protocol === "vllm" ? VLLM_METRICS : SGLANG_METRICS;
  const reading: EngineLoadReading = {
    runningRequests: sum(all, names.running, true),
    waitingRequests: sum(all, names.waiting, true),
    kvUsage: max(all, names.kvUsage, true),
  };
  const blockSize =
    protocol === "vllm"
      ? label(all, VLLM_METRICS.cacheConfig, "block_size")
      : (firstValue(all, SGLANG_METRICS.pageSize) ?? label(all, SGLANG_METRICS.cacheConfig, "page_size"));
  const totalBlocks =
    protocol === "vllm"
      ? label(all, VLLM_METRICS.cacheConfig, "num_gpu_blocks")
      : (firstValue(all, SGLANG_METRICS.numPages) ?? label(all, SGLANG_METRICS.cacheConfig, "num_pages"));
  if (blockSize !== undefined) reading.blockSize = blockSize;
  if (totalBlocks !== undefined) reading.totalBlocks = totalBlocks;
  return reading;
}

/** One metric family to write out: a gauge or counter with its samples. */
export interface ExpositionFamily {
  name: string;
  help: string;
  type: "gauge" | "counter";
  samples: { labels: Record<string, string>; value: number }[];
}

/**
 * A float as Python's prometheus_client writes it (utils.floatToGoString): Python's repr (so `1.0`, `1e-05`),
 * switched to Go's exponent form from 1e6 up, and +Inf/-Inf/NaN.
 */
export function formatPromFloat(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return "+Inf";
  if (value === Number.NEGATIVE_INFINITY) return "-Inf";
  if (Number.isNaN(value)) return "NaN";
  const repr = pythonFloatRepr(value);
  const dot = repr.indexOf(".");
  if (value > 0 && dot > 6) {
    const mantissa = `${repr[0]}.${repr.slice(1, dot)}${repr.slice(dot + 1)}`.replace(/[0.]+$/, "");
    return `${mantissa}e+0${dot - 1}`;
  }
  return repr;
}

/** Python's repr of a float: shortest round-trip digits, exponent below 1e-4 and from 1e16, `.0` on integers. */
function pythonFloatRepr(value: number): string {
  if (value === 0) return Object.is(value, -0) ? "-0.0" : "0.0";
  const abs = Math.abs(value);
  if (abs < 1e-4 || abs >= 1e16) {
    const [mantissa, exponent = "0"] = value.toExponential().split("e");
    const sign = exponent.startsWith("-") ? "-" : "+";
    const digits = exponent.replace(/^[-+]/, "").padStart(2, "0");
    return `${mantissa}e${sign}${digits}`;
  }
  const text = String(value);
  return text.includes(".") ? text : `${text}.0`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/**
 * Prometheus text exposition byte-compatible with Python's prometheus_client (which both engines use):
 * HELP and TYPE lines, labels sorted by name, floats as `formatPromFloat` writes them.
 */
export function formatPrometheusText(families: readonly ExpositionFamily[]): string {
  let out = "";
  for (const family of families) {
    out += `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      const keys = Object.keys(sample.labels).sort();
      const labels =
        keys.length === 0
          ? ""
          : `{${keys.map((k) => `${k}="${escapeLabel(sample.labels[k] ?? "")}"`).join(",")}}`;
      out += `${family.name}${labels} ${formatPromFloat(sample.value)}\n`;
    }
  }
  return out;
}

/** Gauges and counters of a scrape as ExpositionFamily values (histograms and summaries left out). */
export function parsePrometheusFamilies(text: string): ExpositionFamily[] {
  const out: ExpositionFamily[] = [];
  for (const family of families(text).values()) {
    if (family.type !== "GAUGE" && family.type !== "COUNTER") continue;
    out.push({
      name: family.name,
      help: family.help,
      type: family.type === "GAUGE" ? "gauge" : "counter",
      samples: family.metrics.map((sample) => ({
        labels: { ...(sample.labels ?? {}) },
        value: Number(sample.value),
      })),
    });
  }
  return out;
}
