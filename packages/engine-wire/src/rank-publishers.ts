import type { KvEvent } from "@kvasir/protocol";
import { offsetEndpoint } from "./endpoints.js";
import { KvEventPublisher } from "./publisher.js";
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
}

/** One vLLM-style stream per data-parallel rank, fed with Kvasir events. */
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
      for (const [rank, list] of byRank) {
        const mapped = list.map(toVllmEvent).filter((e) => e !== undefined);
        // The returned promise never rejects; nothing waits for the send.
        if (mapped.length > 0) void ranks[rank]?.publish(mapped);
      }
    },
    async close() {
      await Promise.all(ranks.map((r) => r.close()));
    },
  };
}
