// Public surface of @kvasir/bench: trace loading and synthesis, open-loop replay, a timed OpenAI client, and
// the percentile/report, goodput and /metrics-reading helpers shared by every `pnpm bench:*` script.

export { failureReasons, type Goodput, goodput, meetsSla, type Sla } from "./goodput.js";
export { type HitBounds, prefixHitBounds } from "./hit-bounds.js";
export { type LoadModel, offeredLoad, speedupForLoad } from "./offered-load.js";
export { type CompletionTiming, timedCompletion, waitForModel } from "./openai-client.js";
export { type PoissonWorkload, poissonWorkload, seededUniform } from "./poisson.js";
export {
  type HistogramData,
  histogram,
  histogramQuantile,
  parsePromText,
  type Sample,
  sumBy,
} from "./prom-text.js";
export { type ReplayClock, realClock, replayOpenLoop, replaySchedule } from "./replay.js";
export { type Cell, formatCell, formatTable, toJson, writeBenchResult } from "./report.js";
export { type RunSummary, summarizeRun } from "./run-summary.js";
export { SseDecoder } from "./sse.js";
export { percentile, type Summary, summarize } from "./stats.js";
export {
  DEFAULT_SYNTH_VOCAB,
  type SynthesisOptions,
  synthesizeBlock,
  synthesizePrompt,
} from "./synthesis.js";
export {
  loadTrace,
  parseTrace,
  TRACE_BLOCK_TOKENS,
  type TraceBlockStats,
  type TraceRow,
  traceBlockStats,
} from "./trace.js";
