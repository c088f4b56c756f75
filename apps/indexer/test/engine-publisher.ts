import { encode } from "@msgpack/msgpack";
import { Router, XPublisher } from "zeromq";

/** A vLLM BlockStored / BlockRemoved / AllBlocksCleared event in vLLM's current map layout. */
export type VllmEvent = Record<string, unknown>;

const END_SEQ = Buffer.alloc(8, 0xff);

function seqBytes(seq: number): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt(seq));
  return buf;
}

/**
 * A stand-in for a vLLM engine's KV event publisher, for tests: a PUB socket, a ring of recent batches and a
 * ROUTER replay socket that answers as vLLM does. It can also lose a batch on the wire on purpose (kept for
 * replay), send raw frames, and restart its seq count as an engine restart would. The PUB side is an XPUB so a
 * test can wait until a subscriber's subscription has arrived instead of sleeping.
 */
export class EnginePublisher {
  private seq = 0;
  private buffer: { seq: number; payload: Uint8Array }[] = [];
  private replayLoop: Promise<void>;
  private subscriptionsLoop: Promise<void>;
  private subscriptions = 0;
  private onSubscription: (() => void) | undefined;

  private constructor(
    private readonly pub: XPublisher,
    private readonly replay: Router,
    readonly endpoint: string,
    readonly replayEndpoint: string,
    private readonly topic: string,
  ) {
    this.replayLoop = this.serveReplays();
    this.subscriptionsLoop = this.watchSubscriptions();
  }

  static async open(topic = "kv-events"): Promise<EnginePublisher> {
    const pub = new XPublisher({ linger: 0 });
    const replay = new Router({ linger: 0 });
    await pub.bind("tcp://127.0.0.1:0");
    await replay.bind("tcp://127.0.0.1:0");
    return new EnginePublisher(pub, replay, pub.lastEndpoint ?? "", replay.lastEndpoint ?? "", topic);
  }

  /** Resolves once `count` subscriptions have reached this publisher. */
  async subscribed(count = 1): Promise<void> {
    while (this.subscriptions < count) {
      await new Promise<void>((resolve) => {
        this.onSubscription = resolve;
      });
    }
  }

  private async watchSubscriptions(): Promise<void> {
    try {
      for await (const [frame] of this.pub) {
        // XPUB delivers subscribe (1) and unsubscribe (0) messages followed by the topic.
        if (frame?.[0] === 1) this.subscriptions++;
        this.onSubscription?.();
      }
    } catch {
      // Closed.
    }
  }

  get nextSeq(): number {
    return this.seq;
  }

  /** Publishes one batch `[ts, events, dp_rank]`; with `lose`, buffers it for replay but never sends it. */
  async publish(events: VllmEvent[], options: { dpRank?: number; lose?: boolean } = {}): Promise<number> {
    const payload = encode([Date.now() / 1000, events, options.dpRank ?? 0], { useBigInt64: true });
    const seq = this.seq++;
    this.buffer.push({ seq, payload });
    if (!options.lose) await this.pub.send([this.topic, seqBytes(seq), payload]);
    return seq;
  }

  async sendRaw(frames: (Buffer | string)[]): Promise<void> {
    await this.pub.send(frames);
  }

  /** What an engine restart looks like from outside: seq starts again at 0 with an empty buffer. */
  restart(): void {
    this.seq = 0;
    this.buffer = [];
  }

  private async serveReplays(): Promise<void> {
    try {
      for await (const frames of this.replay) {
        const [client, , start] = frames;
        if (frames.length !== 3 || !client || !start) continue;
        const from = Number(start.readBigUInt64BE());
        for (const { seq, payload } of this.buffer) {
          if (seq >= from) await this.replay.send([client, "", this.topic, seqBytes(seq), payload]);
        }
        await this.replay.send([client, "", "", END_SEQ, ""]);
      }
    } catch {
      // Closed.
    }
  }

  async close(): Promise<void> {
    this.pub.close();
    this.replay.close();
    await Promise.all([this.replayLoop, this.subscriptionsLoop]);
  }
}

/** A BlockStored event for `tokens` (whole blocks) with made-up engine hashes. */
export function blockStored(
  tokens: number[],
  blockSize: number,
  engineHashes: bigint[],
  parent: bigint | null = null,
): VllmEvent {
  return {
    type: "BlockStored",
    block_hashes: engineHashes,
    parent_block_hash: parent,
    token_ids: tokens,
    block_size: blockSize,
    lora_id: null,
    medium: "GPU",
    lora_name: null,
    extra_keys: engineHashes.map(() => null),
    group_idx: 0,
    kv_cache_spec_kind: "full_attention",
  };
}

export function blockRemoved(engineHashes: bigint[]): VllmEvent {
  return { type: "BlockRemoved", block_hashes: engineHashes, medium: "GPU", group_idx: 0 };
}
