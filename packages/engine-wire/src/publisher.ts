import { Router, XPublisher } from "zeromq";
import { publisherBinds } from "./endpoints.js";
import { END_OF_REPLAY_SEQ, encodeSeq, parseReplayRequest } from "./frames.js";
import { ReplayBuffer } from "./replay-buffer.js";
import { encodeEventBatch, type VllmEvent } from "./vllm-events.js";

export interface KvEventPublisherOptions {
  /** PUB endpoint: bound when a wildcard, local transport or port 0, else connected (vLLM's rule). */
  endpoint: string;
  /** ROUTER endpoint answering replay requests from the buffer; no replay when absent. */
  replayEndpoint?: string;
  topic: string;
  /** Batches kept for replay (vLLM's `buffer_steps`). */
  bufferSteps: number;
  /** dp rank written into each batch (default 0). */
  dpRank?: number;
  /** Replay replies carry the topic frame, as current vLLM's do (default); SGLang's omit it. */
  replayTopic?: boolean;
}

export interface PublishOptions {
  /** Overrides the publisher's dp rank for this batch. */
  dpRank?: number;
  /** Keeps the batch for replay but never sends it: a batch lost on the wire, for tests of gap healing. */
  withhold?: boolean;
}

/**
 * One engine's KV event stream as vLLM publishes it: a PUB socket sending `[topic, seq, payload]`, a ring of
 * recent batches, and a ROUTER replaying them to subscribers that saw a gap. The PUB side is an XPUB so callers
 * can wait until a subscription has arrived instead of losing the first batches to the slow-joiner problem.
 */
export class KvEventPublisher {
  private seq = 0n;
  private readonly buffer: ReplayBuffer;
  private readonly topic: Buffer;
  // zeromq sockets take one send at a time; chain sends so batches leave in seq order.
  private sending: Promise<void> = Promise.resolve();
  private readonly loops: Promise<void>[] = [];
  private subscriptions = 0;
  private readonly subscriptionWaiters = new Set<() => void>();
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly pub: XPublisher,
    private readonly replay: Router | undefined,
    /** Where the PUB socket is bound or connected (the port resolved when bound to port 0). */
    readonly endpoint: string,
    readonly replayEndpoint: string | undefined,
    private readonly options: KvEventPublisherOptions,
  ) {
    this.topic = Buffer.from(options.topic, "utf8");
    this.buffer = new ReplayBuffer(options.bufferSteps);
    this.loops.push(this.watchSubscriptions());
    if (replay) this.loops.push(this.serveReplays(replay));
  }

  /** Opens the sockets; on failure nothing stays open. */
  static async open(options: KvEventPublisherOptions): Promise<KvEventPublisher> {
    // Validates bufferSteps before any socket exists.
    new ReplayBuffer(options.bufferSteps);
    const pub = new XPublisher({ linger: 0, sendHighWaterMark: 100_000 });
    const replay = options.replayEndpoint === undefined ? undefined : new Router({ linger: 0 });
    try {
      const endpoint = await openSocket(pub, options.endpoint);
      const replayEndpoint =
        replay && options.replayEndpoint !== undefined
          ? await openSocket(replay, options.replayEndpoint)
          : undefined;
      return new KvEventPublisher(pub, replay, endpoint, replayEndpoint, options);
    } catch (error) {
      pub.close();
      replay?.close();
      throw error;
    }
  }

  /** The seq the next batch gets. */
  get nextSeq(): bigint {
    return this.seq;
  }

  /**
   * Publishes one batch of events; resolves with its seq once it is on the wire. Never rejects: a closed socket
   * or a full queue loses the batch, and subscribers heal the gap by replay.
   */
  publish(events: readonly VllmEvent[], options: PublishOptions = {}): Promise<bigint> {
    const payload = encodeEventBatch(events, options.dpRank ?? this.options.dpRank ?? 0);
    return this.publishPayload(payload, options.withhold ?? false);
  }

  /** Publishes an already encoded payload under the next seq. */
  publishPayload(payload: Uint8Array, withhold = false): Promise<bigint> {
    const seq = this.seq++;
    this.buffer.push({ seq, payload });
    if (!withhold) this.send([this.topic, encodeSeq(seq), payload]);
    return this.sending.then(() => seq);
  }

  /** Sends frames as they are, outside the seq count (tests of malformed input). */
  sendFrames(frames: (Buffer | string)[]): Promise<void> {
    this.send(frames);
    return this.sending;
  }

  /** What an engine restart looks like from outside: seq starts again at 0 with an empty buffer. */
  restartSequence(): void {
    this.seq = 0n;
    this.buffer.clear();
  }

  /** Resolves once `count` subscriptions have reached this publisher. */
  async subscribed(count = 1): Promise<void> {
    while (this.subscriptions < count) {
      await new Promise<void>((resolve) => this.subscriptionWaiters.add(resolve));
    }
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.sending;
      this.pub.close();
      this.replay?.close();
      await Promise.all(this.loops);
      for (const wake of this.subscriptionWaiters) wake();
    })();
    return this.closing;
  }

  private send(frames: (Buffer | string | Uint8Array)[]): void {
    this.sending = this.sending
      .then(() => this.pub.send(frames))
      .catch(() => {
        // Closed (shutdown) or the queue is full: the batch is lost on the wire but kept for replay.
      });
  }

  private async watchSubscriptions(): Promise<void> {
    try {
      for await (const [frame] of this.pub) {
        // XPUB delivers subscribe (1) and unsubscribe (0) messages followed by the topic.
        if (frame?.[0] === 1) this.subscriptions++;
        for (const wake of this.subscriptionWaiters) wake();
        this.subscriptionWaiters.clear();
      }
    } catch {
      // The socket was closed: the publisher is shutting down.
    }
  }

  private async serveReplays(replay: Router): Promise<void> {
    try {
      for await (const frames of replay) {
        const request = parseReplayRequest(frames);
        if (!request) continue;
        const withTopic = this.options.replayTopic ?? true;
        for (const { seq, payload } of this.buffer.since(request.from)) {
          const frames = [encodeSeq(seq), payload];
          await replay.send([request.client, "", ...(withTopic ? [this.topic] : []), ...frames]);
        }
        await replay.send([request.client, "", ...(withTopic ? [""] : []), END_OF_REPLAY_SEQ, ""]);
      }
    } catch {
      // The socket was closed while receiving or sending: the publisher is shutting down.
    }
  }
}

async function openSocket(socket: XPublisher | Router, endpoint: string): Promise<string> {
  if (publisherBinds(endpoint)) {
    await socket.bind(endpoint);
    return socket.lastEndpoint ?? endpoint;
  }
  socket.connect(endpoint);
  return endpoint;
}
