import type { KvEvent } from "@kvasir/protocol";
import { offsetEndpoint } from "./endpoints.js";
import { KvEventPublisher } from "./publisher.js";
import { encodeSglangEventBatch, toSglangEvent } from "./sglang-events.js";
import { toVllmEvent } from "./vllm-events.js";

/** How a worker publishes its KV events the way vLLM does (`--kv-events-publisher zmq`). */
export interface ZmqPublisherOptions {
  /** PUB endpoint of dp rank 0; rank r gets port + r (`tcp`) or a `_dp{r}` suffix (`ipc`/`inproc`), as in vLLM. */
  endpoint: string;
  /** ROUTER endpoint serving replays, offset per rank the same way; no replay when absent. */
  replayEndpoint?: string;
  topic: string;
  /** Batches kept per rank for replay (vLLM's `buffer_steps`). */
  bufferSteps: number;
  /**
   * Whose layout the batches and replays take: vLLM's (map-encoded events, replays carrying the topic; the
   * default) or SGLang's (positional events, replays of [seq, payload]).
   */
  layout?: "vllm" | "sglang";
}

/** One engine-style stream per data-parallel rank, fed with Kvasir events. */
export interface ZmqKvPublisher {
  /** Bound or connected PUB endpoint per dp rank (ports resolved when bound to port 0). */
  readonly endpoints: string[];
  readonly replayEndpoints: string[];
  /** Splits the events by dp rank and sends each rank's share as one batch. */
  publish(events: readonly KvEvent[]): void;
  close(): Promise<void>;
}

/** Opens one publisher per data-parallel rank; on failure the ranks opened so far are closed. */
export async function openZmqKvPublisher(
  options: ZmqPublisherOptions,
  dataParallelSize: number,
): Promise<ZmqKvPublisher> {
  const ranks: KvEventPublisher[] = [];
  try {
    for (let rank = 0; rank < dataParallelSize; rank++) {
      ranks.push(
        await KvEventPublisher.open({
          endpoint: offsetEndpoint(options.endpoint, rank),
          ...(options.replayEndpoint === undefined
            ? {}
            : { replayEndpoint: offsetEndpoint(options.replayEndpoint, rank) }),
          topic: options.topic,
          bufferSteps: options.bufferSteps,
          dpRank: rank,
          replayTopic: options.layout !== "sglang",
        }),
      );
    }
  } catch (error) {
    await Promise.all(ranks.map((r) => r.close()));
    throw error;
  }
  return {
    endpoints: ranks.map((r) => r.endpoint),
    replayEndpoints: ranks.flatMap((r) => (r.replayEndpoint === undefined ? [] : [r.replayEndpoint])),
    publish(events) {
      const byRank = new Map<number, KvEvent[]>();
      for (const event of events) {
        const list = byRank.get(event.dpRank);
        if (list) list.push(event);
        else byRank.set(event.dpRank, [event]);
      }
      // The returned promises never reject; nothing waits for the send.
      for (const [rank, list] of byRank) {
        const publisher = ranks[rank];
        if (!publisher) continue;
        if (options.layout === "sglang") {
          const mapped = list.map(toSglangEvent).filter((e) => e !== undefined);
          if (mapped.length > 0) void publisher.publishPayload(encodeSglangEventBatch(mapped, rank));
        } else {
          const mapped = list.map(toVllmEvent).filter((e) => e !== undefined);
          if (mapped.length > 0) void publisher.publish(mapped);
        }
      }
    },
    async close() {
      await Promise.all(ranks.map((r) => r.close()));
    },
  };
}
