// Public surface of @kvasir/engine-wire: the vLLM/SGLang ZMQ KV event wire, shared by workers (publishing or
// relaying an engine's events), the indexer (subscribing) and tests (standing in for an engine).

export { offsetEndpoint, publisherBinds, subscriberBinds } from "./endpoints.js";
// Engine HTTP APIs (vLLM, SGLang), their SSE framing and their load metrics: shared by the worker's engine
// adapters and the engine simulator (apps/mocker).
export * from "./engine-metrics.js";
// Relaying an engine's events: its batches decoded into kvasir.events.v1 events stamped with the worker's id.
export { EngineEventRelay, type EngineEventRelayOptions } from "./engine-relay.js";
// The wire itself: frames, endpoint rules, and how streams are advertised in discovery.
export {
  END_OF_REPLAY_SEQ,
  encodeSeq,
  type LiveFrames,
  parseLiveFrames,
  parseReplayFrames,
  parseReplayRequest,
  type ReplayFrames,
  type SeqBatch,
} from "./frames.js";
export * from "./http/logprobs.js";
export * from "./http/sglang.js";
export * from "./http/sse.js";
export * from "./http/vllm.js";
export { type AdvertisedStream, streamsFromMetadata, streamsMetadata } from "./metadata.js";
// Publishing: one stream per engine (or dp rank), with a replay buffer, and the per-rank fan-out of Kvasir events.
export { KvEventPublisher, type KvEventPublisherOptions, type PublishOptions } from "./publisher.js";
export { openZmqKvPublisher, type ZmqKvPublisher, type ZmqPublisherOptions } from "./rank-publishers.js";
export { ReplayBuffer } from "./replay-buffer.js";
export { type ReplayResult, requestReplay } from "./replay-client.js";
export { SeqTracker, type SeqVerdict } from "./seq-tracker.js";
export * from "./sglang-events.js";
// Subscribing: one engine's stream in seq order, gaps healed by replay, restarts detected.
export {
  type StreamLog,
  type ZmqDropReason,
  ZmqKvStream,
  type ZmqStreamHandler,
  type ZmqStreamOptions,
} from "./subscriber.js";
export {
  encodeEventBatch,
  engineBlockHash,
  toVllmEvent,
  type VllmEvent,
  vllmAllBlocksCleared,
  vllmBlockRemoved,
  vllmBlockStored,
} from "./vllm-events.js";
