/** A ZMQ KV event stream a worker advertises in its discovery record (one per dp rank). */
export interface AdvertisedStream {
  endpoint: string;
  replayEndpoint?: string;
}

/**
 * The vLLM-style KV event streams in an instance record's metadata, as the mocker worker publishes them with
 * `--kv-events-publisher zmq`: comma-separated `zmq_kv_events_endpoints`, and `zmq_kv_events_replay_endpoints`
 * in the same order. Records without them (or not shaped like one) advertise none.
 */
export function advertisedStreams(record: unknown): AdvertisedStream[] {
  if (typeof record !== "object" || record === null || !("metadata" in record)) return [];
  const metadata = record.metadata;
  if (typeof metadata !== "object" || metadata === null) return [];
  const field = (name: string): string[] => {
    const value = (metadata as Record<string, unknown>)[name];
    return typeof value === "string" && value !== "" ? value.split(",") : [];
  };
  const replays = field("zmq_kv_events_replay_endpoints");
  return field("zmq_kv_events_endpoints").map((endpoint, i) => {
    const replayEndpoint = replays[i];
    return replayEndpoint ? { endpoint, replayEndpoint } : { endpoint };
  });
}
