import { type AdvertisedStream, streamsFromMetadata } from "@kvasir/engine-wire";

export type { AdvertisedStream };

/**
 * The vLLM-style KV event streams in an instance record's metadata, as the mocker worker publishes them with
 * `--kv-events-publisher zmq` (one per dp rank). Records without them (or not shaped like one) advertise none.
 */
export function advertisedStreams(record: unknown): AdvertisedStream[] {
  if (typeof record !== "object" || record === null || !("metadata" in record)) return [];
  const metadata: unknown = record.metadata;
  if (typeof metadata !== "object" || metadata === null) return [];
  return streamsFromMetadata(Object.fromEntries(Object.entries(metadata)));
}
