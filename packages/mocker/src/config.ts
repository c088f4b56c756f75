// Mocker configuration: Dynamo's mocker flags in camelCase, with their defaults (docs/mocker.md).
import { DEFAULT_KV_BLOCK_SIZE } from "@kvasir/kv";
import { type PerfProfile, parsePerfProfile } from "@kvasir/protocol";

/**
 * Coefficients of the default (polynomial) timing model, in milliseconds. Derived in docs/mocker.md from the
 * Llama-3.1-8B-Instruct-FP8 on one H200 profile published with Dynamo's planner tests.
 */
export interface TimingCoefficients {
  /** Fixed cost of one forward pass (weights read, kernel launches, sampling), paid once per step. */
  stepOverheadMs: number;
  /** Linear (GEMM) cost of each prefill token. */
  prefillMsPerToken: number;
  /** Attention cost of each (new token, attended token) pair of a prefill chunk. */
  prefillMsPerAttendedPair: number;
  /** Per-sequence cost of a decode step. */
  decodeMsPerSeq: number;
  /** KV-cache read cost of each token attended by a decoding sequence. */
  decodeMsPerKvToken: number;
}

export interface MockerConfig {
  /** KV cache capacity of each data-parallel rank, in blocks. */
  numGpuBlocks: number;
  /** Tokens per KV block (Kvasir's `--kv-cache-block-size`). */
  blockSize: number;
  /** Most requests running at once on one rank. */
  maxNumSeqs: number;
  /** Token budget of one engine step on one rank (prefill chunks plus decode tokens). */
  maxNumBatchedTokens: number;
  enablePrefixCaching: boolean;
  enableChunkedPrefill: boolean;
  /** Fraction of a rank's blocks that admitting a waiting request must leave free. */
  watermark: number;
  /** Divides every simulated duration (10 = ten times faster than the modelled GPU). */
  speedupRatio: number;
  dataParallelSize: number;
  /** Context length: prompt plus generated tokens never exceed it. */
  maxModelLen: number;
  /** Profiled timings (Dynamo's perf-data arrays, @kvasir/protocol's PerfProfile); replaces the polynomial model when set. */
  perfProfile?: PerfProfile;
  timing: TimingCoefficients;
  /** Output token ids are drawn from [outputTokenIdMin, outputTokenIdMax). */
  outputTokenIdMin: number;
  outputTokenIdMax: number;
  /**
   * EOS ids of the served model. Sampling never draws them; the first ends a reply at its drawn output length and
   * after a guided output (none known: replies run to max_tokens, as Dynamo's mocker).
   */
  eosTokenIds: number[];
  /** Mean output length in tokens at which a reply ends with EOS (unless ignore_eos); 0: never. */
  randomOutputLen: number;
  /** Output lengths are drawn uniformly from randomOutputLen x [1 - ratio, 1 + ratio]. */
  randomRangeRatio: number;
  /** Length of the unit vectors an embedding model returns. */
  embeddingDimensions: number;
  /** Engine seed; with the request id it fixes the output of requests that carry no seed. */
  seed: number;
  /**
   * Bytes of KV cache per token, what disaggregated serving moves between workers for each prompt token. Default:
   * the simulated model's (Qwen3-0.6B, see SIMULATED_MODEL_SHAPE and docs/mocker.md).
   */
  kvBytesPerToken: number;
}

/** The attention shape of a model, what its KV cache size per token follows from. */
export interface KvModelShape {
  numLayers: number;
  numKvHeads: number;
  headDim: number;
  /** Bytes of one KV element (2 for bf16/fp16, 1 for fp8). */
  dtypeBytes: number;
}

/** Qwen3-0.6B (config.json: 28 layers, 8 KV heads, head_dim 128, bf16), the bundled tokenizer's model. */
export const SIMULATED_MODEL_SHAPE: KvModelShape = {
  numLayers: 28,
  numKvHeads: 8,
  headDim: 128,
  dtypeBytes: 2,
};

/** K and V, per layer, per KV head, per head dimension: 28 x 8 x 128 x 2 x 2 = 114,688 bytes for Qwen3-0.6B. */
export function kvBytesPerToken(shape: KvModelShape): number {
  return shape.numLayers * shape.numKvHeads * shape.headDim * 2 * shape.dtypeBytes;
}

/** Llama-3.1-8B-FP8 on H200, fitted to Dynamo's published profile (derivation in docs/mocker.md). */
export const DEFAULT_TIMING: TimingCoefficients = {
  stepOverheadMs: 3.0,
  prefillMsPerToken: 7.627e-3,
  prefillMsPerAttendedPair: 2.49e-7,
  decodeMsPerSeq: 0.01,
  decodeMsPerKvToken: 1.886e-5,
};

export const DEFAULT_MOCKER_CONFIG: MockerConfig = {
  numGpuBlocks: 16384,
  blockSize: DEFAULT_KV_BLOCK_SIZE,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 8192,
  enablePrefixCaching: true,
  enableChunkedPrefill: true,
  watermark: 0.01,
  speedupRatio: 1,
  dataParallelSize: 1,
  maxModelLen: 40960,
  timing: DEFAULT_TIMING,
  outputTokenIdMin: 1000,
  outputTokenIdMax: 30000,
  eosTokenIds: [],
  randomOutputLen: 256,
  randomRangeRatio: 0.5,
  embeddingDimensions: 1024,
  seed: 0,
  kvBytesPerToken: kvBytesPerToken(SIMULATED_MODEL_SHAPE),
};

/** Partial config as callers pass it; `perfProfile` may be the raw JSON in either layout (checked here). */
export type MockerConfigInput = Partial<Omit<MockerConfig, "timing" | "perfProfile">> & {
  timing?: Partial<TimingCoefficients>;
  perfProfile?: unknown;
};

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
}

/** Fills defaults and checks every field; throws a RangeError naming the bad field. */
export function resolveMockerConfig(input: MockerConfigInput = {}): MockerConfig {
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const { timing: timingInput, perfProfile: profileInput, ...rest } = defined as MockerConfigInput;
  const config: MockerConfig = {
    ...DEFAULT_MOCKER_CONFIG,
    ...rest,
    timing: { ...DEFAULT_TIMING, ...timingInput },
  };
  if (profileInput !== undefined) config.perfProfile = parsePerfProfile(profileInput);
  positiveInt("numGpuBlocks", config.numGpuBlocks);
  positiveInt("blockSize", config.blockSize);
  positiveInt("maxNumSeqs", config.maxNumSeqs);
  positiveInt("maxNumBatchedTokens", config.maxNumBatchedTokens);
  positiveInt("dataParallelSize", config.dataParallelSize);
  positiveInt("maxModelLen", config.maxModelLen);
  positiveInt("kvBytesPerToken", config.kvBytesPerToken);
  positiveInt("embeddingDimensions", config.embeddingDimensions);
  if (!(Number.isInteger(config.randomOutputLen) && config.randomOutputLen >= 0)) {
    throw new RangeError(`randomOutputLen must be a non-negative integer, got ${config.randomOutputLen}`);
  }
  if (!(config.randomRangeRatio >= 0 && config.randomRangeRatio < 1)) {
    throw new RangeError(`randomRangeRatio must be in [0, 1), got ${config.randomRangeRatio}`);
  }
  if (!(config.watermark >= 0 && config.watermark < 1)) {
    throw new RangeError(`watermark must be in [0, 1), got ${config.watermark}`);
  }
  if (!(config.speedupRatio > 0 && Number.isFinite(config.speedupRatio))) {
    throw new RangeError(`speedupRatio must be a positive number, got ${config.speedupRatio}`);
  }
  for (const [name, v] of Object.entries(config.timing)) {
    if (!(v >= 0 && Number.isFinite(v))) throw new RangeError(`timing.${name} must be >= 0, got ${v}`);
  }
  const { outputTokenIdMin: lo, outputTokenIdMax: hi } = config;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi <= lo || hi > 2 ** 32) {
    throw new RangeError(`output token id range [${lo}, ${hi}) must be a non-empty range of u32 ids`);
  }
  if (!config.enableChunkedPrefill && config.maxNumBatchedTokens < config.maxModelLen) {
    // As vLLM: without chunking a prompt must fit one step, or a long one could never be scheduled.
    throw new RangeError(
      `maxNumBatchedTokens (${config.maxNumBatchedTokens}) is smaller than maxModelLen (${config.maxModelLen}) ` +
        "with chunked prefill disabled: raise maxNumBatchedTokens, lower maxModelLen or enable chunked prefill",
    );
  }
  return config;
}

/** Blocks that admitting a waiting request must leave free on a rank. */
export function watermarkBlocks(config: MockerConfig): number {
  return Math.floor(config.watermark * config.numGpuBlocks);
}
