// KV events on ZMQ in the engine's own layout: one publisher per data-parallel rank (port + rank, as both engines
// offset it), vLLM's map-encoded events with topic-carrying replays, or SGLang's positional events with replays
// of [seq, payload]. Each engine step's events of a rank go out as one batch.
import {
  encodeSglangEventBatch,
  KvEventPublisher,
  offsetEndpoint,
  toSglangEvent,
  toVllmEvent,
} from "@kvasir/engine-wire";
import type { KvEvent } from "@kvasir/protocol";
import type { Protocol } from "./flags.js";
import type { KvEventsSettings } from "./kv-events-config.js";

export interface EngineKvPublisher {
  readonly endpoints: string[];
  readonly replayEndpoints: string[];
  publish(events: readonly KvEvent[]): void;
  close(): Promise<void>;
}

export async function openEngineKvPublisher(
  protocol: Protocol,
  settings: KvEventsSettings,
  dataParallelSize: number,
): Promise<EngineKvPublisher> {
  const ranks: KvEventPublisher[] = [];
  try {
    for (let rank = 0; rank < dataParallelSize; rank++) {
      ranks.push(
        await KvEventPublisher.open({
          endpoint: offsetEndpoint(settings.endpoint, rank),
          ...(settings.replayEndpoint === undefined
            ? {}
            : { replayEndpoint: offsetEndpoint(settings.replayEndpoint, rank) }),
          topic: settings.topic,
          bufferSteps: settings.bufferSteps,
          dpRank: rank,
          replayTopic: protocol === "vllm",
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
      for (const event of events) byRank.set(event.dpRank, [...(byRank.get(event.dpRank) ?? []), event]);
      for (const [rank, list] of byRank) {
        const publisher = ranks[rank];
        if (!publisher) continue;
        if (protocol === "vllm") {
          const mapped = list.map(toVllmEvent).filter((e) => e !== undefined);
          if (mapped.length > 0) void publisher.publish(mapped);
        } else {
          const mapped = list.map(toSglangEvent).filter((e) => e !== undefined);
          if (mapped.length > 0) void publisher.publishPayload(encodeSglangEventBatch(mapped, rank));
        }
      }
    },
    async close() {
      await Promise.all(ranks.map((r) => r.close()));
    },
  };
}
