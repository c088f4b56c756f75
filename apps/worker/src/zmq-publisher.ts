import type { KvEvent } from "@kvasir/protocol";
import { encode } from "@msgpack/msgpack";
import { Publisher, Router } from "zeromq";

/** How the mocker publishes KV events the way vLLM does (`--kv-events-publisher zmq`). */
export interface ZmqPublisherOptions {
  /** PUB endpoint of dp rank 0; rank r gets port + r (`tcp`) or a `_dp{r}` suffix (`ipc`/`inproc`), as in vLLM. */
  endpoint: string;
  /** ROUTER endpoint serving replays, offset per rank the same way; no replay when absent. */
  replayEndpoint?: string;
  topic: string;
  /** Batches kept per rank for replay (vLLM's `buffer_steps`). */
  bufferSteps: number;
}

export interface ZmqKvPublisher {
  /** Bound or connected PUB endpoint per dp rank (ports resolved when bound to port 0). */
  readonly endpoints: string[];
  readonly replayEndpoints: string[];
  publish(events: KvEvent[]): void;
  close(): Promise<void>;
}

// vLLM's end-of-replay marker: seq -1 as 8 signed big-endian bytes.
const END_SEQ = Buffer.alloc(8, 0xff);
const MASK64 = (1n << 64n) - 1n;

/**
 * The engine-side name of a block. A bijective scramble (splitmix64's finalizer) of our sequence hash, so the
 * names differ from Kvasir's hashes as a real engine's do, while one block keeps one name for its removal.
 */
export function engineBlockHash(seqHash: bigint): bigint {
  let z = (seqHash + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** msgpack has one int type; like msgspec, send small values compactly and the rest as uint64. */
function wireInt(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
}

/** One Kvasir event in vLLM's current map layout (vllm-project/vllm#42892; FORMATS.md §2.1 (b)). */
export function toVllmEvent(event: KvEvent): Record<string, unknown> | undefined {
  const data = event.data;
  switch (data.case) {
    case "stored": {
      const stored = data.value;
      return {
        type: "BlockStored",
        block_hashes: stored.blocks.map((block) => wireInt(engineBlockHash(block.seqHash))),
        parent_block_hash:
          stored.parentSeqHash === undefined ? null : wireInt(engineBlockHash(stored.parentSeqHash)),
        token_ids: stored.tokenIds,
        block_size: stored.blockSize,
        lora_id: null,
        medium: "GPU",
        lora_name: stored.loraName === "" ? null : stored.loraName,
        extra_keys: stored.blocks.map(() => null),
        group_idx: 0,
        kv_cache_spec_kind: "full_attention",
      };
    }
    case "removed":
      return {
        type: "BlockRemoved",
        block_hashes: data.value.seqHashes.map((hash) => wireInt(engineBlockHash(hash))),
        medium: "GPU",
        group_idx: 0,
      };
    case "cleared":
      return { type: "AllBlocksCleared" };
    default:
      return undefined;
  }
}

/** vLLM's `offset_endpoint_port`: each data-parallel rank publishes on its own endpoint. */
export function offsetEndpoint(endpoint: string, rank: number): string {
  if (rank === 0) return endpoint;
  if (endpoint.startsWith("inproc://") || endpoint.startsWith("ipc://")) return `${endpoint}_dp${rank}`;
  const match = /^(tcp:\/\/.*):(\d+)$/.exec(endpoint);
  if (!match) return endpoint;
  const port = Number(match[2]);
  // Port 0 asks the OS for a free port per socket, so there is nothing to offset.
  return port === 0 ? endpoint : `${match[1]}:${port + rank}`;
}

/** vLLM's rule: bind when the endpoint is a wildcard or local transport, else connect to a listening consumer. */
export function bindsEndpoint(endpoint: string): boolean {
  return (
    endpoint.includes("*") ||
    endpoint.includes("::") ||
    endpoint.startsWith("ipc://") ||
    endpoint.startsWith("inproc://")
  );
}

function seqBytes(seq: bigint): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(seq);
  return buf;
}

/** Publisher of one dp rank: a PUB socket, a ring of recent batches and a ROUTER that replays them. */
class RankPublisher {
  private seq = 0n;
  private readonly buffer: { seq: bigint; payload: Uint8Array }[] = [];
  // zeromq sockets take one send at a time; chain sends so batches leave in seq order.
  private sending: Promise<void> = Promise.resolve();
  private readonly topic: Buffer;
  private replayLoop: Promise<void> | undefined;

  constructor(
    private readonly pub: Publisher,
    private readonly replay: Router | undefined,
    private readonly rank: number,
    topic: string,
    private readonly bufferSteps: number,
  ) {
    this.topic = Buffer.from(topic, "utf8");
    if (replay) this.replayLoop = this.serveReplays(replay);
  }

  publish(events: KvEvent[]): void {
    const mapped = events.map(toVllmEvent).filter((e) => e !== undefined);
    if (mapped.length === 0) return;
    const payload = encode([Date.now() / 1000, mapped, this.rank], { useBigInt64: true });
    const seq = this.seq++;
    this.buffer.push({ seq, payload });
    if (this.buffer.length > this.bufferSteps) this.buffer.shift();
    const frames = [this.topic, seqBytes(seq), payload];
    this.sending = this.sending
      .then(() => this.pub.send(frames))
      .catch(() => {
        // A closed socket (shutdown) or a full queue loses the batch; subscribers heal gaps by replay.
      });
  }

  private async serveReplays(replay: Router): Promise<void> {
    try {
      for await (const frames of replay) {
        // vLLM accepts exactly [client id, empty delimiter, start seq] and ignores anything else.
        const [client, , start] = frames;
        if (frames.length !== 3 || !client || !start || start.length !== 8) continue;
        const from = start.readBigUInt64BE();
        for (const { seq, payload } of this.buffer) {
          if (seq >= from) await replay.send([client, "", this.topic, seqBytes(seq), payload]);
        }
        await replay.send([client, "", "", END_SEQ, ""]);
      }
    } catch {
      // The socket was closed while receiving or sending: the publisher is shutting down.
    }
  }

  async close(): Promise<void> {
    await this.sending;
    this.pub.close();
    this.replay?.close();
    await this.replayLoop;
  }
}

async function openSocket<S extends Publisher | Router>(socket: S, endpoint: string): Promise<string> {
  if (bindsEndpoint(endpoint) || endpoint.endsWith(":0")) {
    await socket.bind(endpoint);
    return socket.lastEndpoint ?? endpoint;
  }
  socket.connect(endpoint);
  return endpoint;
}

/** Opens one PUB (and replay ROUTER) per data-parallel rank. */
export async function openZmqKvPublisher(
  options: ZmqPublisherOptions,
  dataParallelSize: number,
): Promise<ZmqKvPublisher> {
  const ranks: RankPublisher[] = [];
  const endpoints: string[] = [];
  const replayEndpoints: string[] = [];
  try {
    for (let rank = 0; rank < dataParallelSize; rank++) {
      const pub = new Publisher({ sendHighWaterMark: 100_000 });
      endpoints.push(await openSocket(pub, offsetEndpoint(options.endpoint, rank)));
      let replay: Router | undefined;
      if (options.replayEndpoint) {
        replay = new Router();
        replayEndpoints.push(await openSocket(replay, offsetEndpoint(options.replayEndpoint, rank)));
      }
      ranks.push(new RankPublisher(pub, replay, rank, options.topic, options.bufferSteps));
    }
  } catch (error) {
    await Promise.all(ranks.map((r) => r.close()));
    throw error;
  }
  return {
    endpoints,
    replayEndpoints,
    publish(events) {
      const byRank = new Map<number, KvEvent[]>();
      for (const event of events) {
        const list = byRank.get(event.dpRank);
        if (list) list.push(event);
        else byRank.set(event.dpRank, [event]);
      }
      for (const [rank, list] of byRank) ranks[rank]?.publish(list);
    },
    async close() {
      await Promise.all(ranks.map((r) => r.close()));
    },
  };
}
