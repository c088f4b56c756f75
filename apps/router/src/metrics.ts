// The router's Dynamo metrics: each routing decision's overlap and overheads, and Generate's token timings as a
// pipeline stage.
import type { KvRouteDecision } from "@kvasir/kv";
import type { Stage } from "@kvasir/serving";
import type { RouterMetrics } from "@kvasir/telemetry";

export function observeRoute(metrics: RouterMetrics, d: KvRouteDecision): void {
  const { hashMs, findMatchesMs, selectMs } = d.timings;
  metrics.requestsTotal.inc();
  metrics.inputSequenceTokens.observe(d.promptTokens);
  if (d.promptTokens > 0)
    metrics.kvHitRate.observe(Math.min((d.overlapBlocks * d.blockSize) / d.promptTokens, 1));
  metrics.overheadBlockHashingMs.observe(hashMs);
  metrics.overheadIndexerFindMatchesMs.observe(findMatchesMs);
  metrics.overheadSchedulingMs.observe(selectMs);
  metrics.overheadTotalMs.observe(hashMs + findMatchesMs + selectMs);
}

/** Time to first token, inter-token latency and output length of each Generate stream. */
export function observeGenerate(metrics: RouterMetrics): Stage {
  return (next) =>
    async function* (request, ctx) {
      const startedAt = performance.now();
      let lastAt = startedAt;
      let outputTokens = 0;
      for await (const output of next(request, ctx)) {
        const now = performance.now();
        const count = output.tokenIds.length;
        if (outputTokens === 0 && count > 0) metrics.timeToFirstToken.observe((now - startedAt) / 1000);
        else if (count > 0) metrics.interTokenLatency.observe((now - lastAt) / 1000 / count);
        if (count > 0) lastAt = now;
        outputTokens += count;
        yield output;
      }
      metrics.outputSequenceTokens.observe(outputTokens);
    };
}
