import { Subscriber } from "zeromq";
import { subscriberBinds } from "./endpoints.js";
import { parseLiveFrames } from "./frames.js";
import { requestReplay } from "./replay-client.js";
import { SeqTracker } from "./seq-tracker.js";

/** What a stream does with what it receives. Implementations must not throw. */
export interface ZmqStreamHandler {
  /** One batch, in seq order, live or replayed. */
  batch(seq: bigint, payload: Uint8Array): void;
  /**
   * A replayed batch the index already reflects (at or below the snapshot's watermark): not to be applied again,
   * but the decoder learns from it the engine-hash names that later removals and child blocks refer to.
   */
  learn(seq: bigint, payload: Uint8Array): void;
  /** The engine restarted (its seq went back): forget every block this stream reported. */
  restart(): void;
  /** Batches or frames lost or rejected by the transport, by reason. */
  dropped(reason: ZmqDropReason, count: number): void;
}

export type ZmqDropReason = "malformed_frames" | "duplicate_batch" | "seq_gap" | "replay_failed";

export interface ZmqStreamOptions {
  /** The engine's PUB endpoint. */
  endpoint: string;
  /** The engine's replay ROUTER endpoint; without it gaps are counted, not healed. */
  replayEndpoint?: string;
  /** Subscription prefix matched against the topic frame ("" takes everything). */
  topic: string;
  /** Last seq applied before a restart of the indexer (from a snapshot). */
  watermark?: bigint;
  replayTimeoutMs: number;
}

export interface StreamLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

/**
 * One engine's KV event stream over ZMQ: applies batches in seq order, replays gaps from the engine's replay
 * socket, and reports a lower seq as an engine restart. On start it replays the engine's whole buffer: batches
 * up to the watermark of a restored snapshot only rebuild the decoder's engine-hash names, later ones are
 * applied, so the indexer catches up without waiting for new traffic.
 */
export class ZmqKvStream {
  private readonly tracker: SeqTracker;
  private readonly sub = new Subscriber({ linger: 0 });
  private loop: Promise<void> | undefined;
  private closed = false;

  constructor(
    private readonly options: ZmqStreamOptions,
    private readonly handler: ZmqStreamHandler,
    private readonly log: StreamLog,
  ) {
    this.tracker = new SeqTracker(options.watermark);
  }

  get endpoint(): string {
    return this.options.endpoint;
  }

  /** Last applied seq (−1 before any): the watermark to snapshot. */
  get lastSeq(): bigint {
    return this.tracker.lastSeq;
  }

  async start(): Promise<void> {
    const { endpoint, topic } = this.options;
    try {
      this.sub.subscribe(topic);
      if (subscriberBinds(endpoint)) await this.sub.bind(endpoint);
      else this.sub.connect(endpoint);
    } catch (error) {
      // A bad or taken endpoint: leave no socket behind.
      this.sub.close();
      throw error;
    }
    if (this.options.replayEndpoint) await this.replay(0n);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    try {
      for await (const frames of this.sub) await this.receive(frames);
    } catch (error) {
      if (!this.closed)
        this.log.warn("zmq stream stopped", { endpoint: this.options.endpoint, error: String(error) });
    }
  }

  private async receive(frames: Buffer[]): Promise<void> {
    const message = parseLiveFrames(frames);
    if (!message.ok) {
      this.handler.dropped(message.reason, 1);
      return;
    }
    const { seq, payload } = message;
    let verdict = this.tracker.classify(seq);
    if (verdict === "restart") {
      this.log.info("engine restarted, clearing its blocks", {
        endpoint: this.options.endpoint,
        seq: seq.toString(),
        last_seq: this.tracker.lastSeq.toString(),
      });
      this.handler.restart();
      this.tracker.reset();
      verdict = this.tracker.classify(seq);
    }
    if (verdict === "gap" && this.options.replayEndpoint) {
      await this.replay();
      verdict = this.tracker.classify(seq);
    }
    if (verdict === "duplicate") {
      this.handler.dropped("duplicate_batch", 1);
      return;
    }
    if (verdict === "gap") this.lost(seq);
    this.handler.batch(seq, payload);
    this.tracker.applied(seq, true);
  }

  private lost(seq: bigint): void {
    const missing = Number(seq - this.tracker.nextSeq);
    this.log.warn("kv event batches lost", {
      endpoint: this.options.endpoint,
      from: this.tracker.nextSeq.toString(),
      missing,
    });
    this.handler.dropped("seq_gap", missing);
  }

  /** Replays from `from` (default: the next seq expected); batches below that are only learnt from. */
  private async replay(from = this.tracker.nextSeq): Promise<void> {
    const endpoint = this.options.replayEndpoint;
    if (!endpoint) return;
    this.tracker.replayStarting();
    const result = await requestReplay(endpoint, from, this.options.replayTimeoutMs);
    for (const { seq, payload } of result.batches) {
      if (seq < this.tracker.nextSeq) {
        if (seq >= from) this.handler.learn(seq, payload);
        continue;
      }
      // The engine's buffer no longer holds the start of the gap.
      if (seq > this.tracker.nextSeq) this.lost(seq);
      this.handler.batch(seq, payload);
      this.tracker.applied(seq, false);
    }
    if (!result.complete) {
      this.log.warn("kv event replay incomplete", { endpoint, replayed: result.batches.length });
      this.handler.dropped("replay_failed", 1);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sub.close();
    await this.loop;
  }
}
