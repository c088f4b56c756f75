// How a worker advertises its vLLM-style KV event streams in its discovery record, and how a subscriber (the
// indexer) reads them back: comma-separated `zmq_kv_events_endpoints`, one per dp rank, and
// `zmq_kv_events_replay_endpoints` in the same order.

const ENDPOINTS = "zmq_kv_events_endpoints";
const REPLAY_ENDPOINTS = "zmq_kv_events_replay_endpoints";

/** A ZMQ KV event stream a worker advertises (one per dp rank). */
export interface AdvertisedStream {
  endpoint: string;
  replayEndpoint?: string;
}

/** The metadata fields that advertise these streams. */
export function streamsMetadata(endpoints: readonly string[], replayEndpoints: readonly string[]) {
  return { [ENDPOINTS]: endpoints.join(","), [REPLAY_ENDPOINTS]: replayEndpoints.join(",") };
}

/** The streams advertised in a record's metadata; none when the fields are absent or not strings. */
export function streamsFromMetadata(metadata: Readonly<Record<string, unknown>>): AdvertisedStream[] {
  const field = (name: string): string[] => {
    const value = metadata[name];
    return typeof value === "string" && value !== "" ? value.split(",") : [];
  };
  const replays = field(REPLAY_ENDPOINTS);
  return field(ENDPOINTS).map((endpoint, i) => {
    const replayEndpoint = replays[i];
    return replayEndpoint ? { endpoint, replayEndpoint } : { endpoint };
  });
}
