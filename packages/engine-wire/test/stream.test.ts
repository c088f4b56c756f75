import { waitFor } from "@kvasir/testing";
import { decode } from "@msgpack/msgpack";
import { afterEach, describe, expect, it } from "vitest";
import {
  KvEventPublisher,
  openZmqKvPublisher,
  vllmBlockStored,
  type ZmqDropReason,
  ZmqKvStream,
  type ZmqStreamHandler,
} from "../src/index.js";

/** Records what a stream hands over, in order. */
class Recorder implements ZmqStreamHandler {
  readonly seqs: bigint[] = [];
  readonly learnt: bigint[] = [];
  readonly firstTokens: number[] = [];
  readonly ranks: number[] = [];
  restarts = 0;
  readonly drops = new Map<ZmqDropReason, number>();

  batch(seq: bigint, payload: Uint8Array): void {
    this.seqs.push(seq);
    const [, events, rank] = decode(payload) as [number, { token_ids: number[] }[], number];
    this.firstTokens.push(events[0]?.token_ids[0] ?? -1);
    this.ranks.push(rank);
  }
  learn(seq: bigint): void {
    this.learnt.push(seq);
  }
  restart(): void {
    this.restarts++;
    this.seqs.length = 0;
  }
  dropped(reason: ZmqDropReason, count: number): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + count);
  }
}

const quietLog = { info() {}, warn() {} };

function batchFor(marker: number) {
  return [vllmBlockStored([marker, 1, 2, 3], 4, [BigInt(marker) * 1000n])];
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanup.reverse()) await close();
  cleanup = [];
});

function subscribe(
  endpoint: string,
  recorder: ZmqStreamHandler,
  options: { replayEndpoint?: string; watermark?: bigint } = {},
): ZmqKvStream {
  const stream = new ZmqKvStream(
    { endpoint, topic: "kv", replayTimeoutMs: 2000, ...options },
    recorder,
    quietLog,
  );
  cleanup.push(() => stream.close());
  return stream;
}

async function setup(options: { replay?: boolean; watermark?: bigint; engineTopic?: string } = {}) {
  const engine = await KvEventPublisher.open({
    endpoint: "tcp://127.0.0.1:0",
    replayEndpoint: "tcp://127.0.0.1:0",
    topic: options.engineTopic ?? "kv-events",
    bufferSteps: 100,
  });
  cleanup.push(() => engine.close());
  const recorder = new Recorder();
  const stream = subscribe(engine.endpoint, recorder, {
    ...(options.replay === false || !engine.replayEndpoint ? {} : { replayEndpoint: engine.replayEndpoint }),
    ...(options.watermark === undefined ? {} : { watermark: options.watermark }),
  });
  return { engine, recorder, stream };
}

describe("ZmqKvStream against KvEventPublisher over real sockets", () => {
  it("applies live batches in seq order", async () => {
    const { engine, recorder, stream } = await setup();
    await stream.start();
    await engine.subscribed();
    for (let i = 0; i < 5; i++) await engine.publish(batchFor(i));
    await waitFor(() => recorder.seqs.length === 5);
    expect(recorder.seqs).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect(recorder.firstTokens).toEqual([0, 1, 2, 3, 4]);
    expect(stream.lastSeq).toBe(4n);
  });

  it("heals a seq gap by replay from the engine's ROUTER", async () => {
    const { engine, recorder, stream } = await setup();
    await stream.start();
    await engine.subscribed();
    await engine.publish(batchFor(10));
    await engine.publish(batchFor(11), { withhold: true });
    await engine.publish(batchFor(12), { withhold: true });
    await engine.publish(batchFor(13));
    await engine.publish(batchFor(14));
    await waitFor(() => recorder.seqs.length === 5);
    expect(recorder.seqs).toEqual([0n, 1n, 2n, 3n, 4n]);
    expect(recorder.firstTokens).toEqual([10, 11, 12, 13, 14]);
    expect(recorder.drops.get("seq_gap")).toBeUndefined();
  });

  it("counts a gap it cannot heal when the engine has no replay socket", async () => {
    const { engine, recorder, stream } = await setup({ replay: false });
    await stream.start();
    await engine.subscribed();
    await engine.publish(batchFor(0));
    await engine.publish(batchFor(1), { withhold: true });
    await engine.publish(batchFor(2));
    await waitFor(() => recorder.seqs.length === 2);
    expect(recorder.seqs).toEqual([0n, 2n]);
    expect(recorder.drops.get("seq_gap")).toBe(1);
  });

  it("reports a lower seq as an engine restart", async () => {
    const { engine, recorder, stream } = await setup();
    await stream.start();
    await engine.subscribed();
    for (let i = 0; i < 3; i++) await engine.publish(batchFor(i));
    await waitFor(() => recorder.seqs.length === 3);
    engine.restartSequence();
    await engine.publish(batchFor(100));
    await waitFor(() => recorder.restarts === 1 && recorder.seqs.length === 1);
    expect(recorder.seqs).toEqual([0n]);
    expect(recorder.firstTokens.at(-1)).toBe(100);
  });

  it("catches up from a watermark on start without live traffic", async () => {
    const { engine, recorder, stream } = await setup({ watermark: 1n });
    for (let i = 0; i < 4; i++) await engine.publish(batchFor(i), { withhold: true });
    await stream.start();
    // Batches up to the watermark are already in the snapshot: learnt from, not applied again.
    expect(recorder.learnt).toEqual([0n, 1n]);
    expect(recorder.seqs).toEqual([2n, 3n]);
    expect(stream.lastSeq).toBe(3n);
    // Live traffic continues from there.
    await engine.subscribed();
    await engine.publish(batchFor(4));
    await waitFor(() => recorder.seqs.length === 3);
    expect(recorder.seqs.at(-1)).toBe(4n);
  });

  it("replays only what the buffer still holds and counts the rest as lost", async () => {
    const engine = await KvEventPublisher.open({
      endpoint: "tcp://127.0.0.1:0",
      replayEndpoint: "tcp://127.0.0.1:0",
      topic: "kv-events",
      bufferSteps: 2,
    });
    cleanup.push(() => engine.close());
    for (let i = 0; i < 5; i++) await engine.publish(batchFor(i), { withhold: true });
    const recorder = new Recorder();
    const stream = subscribe(engine.endpoint, recorder, { replayEndpoint: engine.replayEndpoint ?? "" });
    await stream.start();
    expect(recorder.seqs).toEqual([3n, 4n]);
    expect(recorder.drops.get("seq_gap")).toBe(3);
  });

  it("survives garbage and truncated frames and counts them", async () => {
    const { engine, recorder, stream } = await setup();
    await stream.start();
    await engine.subscribed();
    await engine.sendFrames(["kv-events", "short"]);
    await engine.sendFrames(["kv-events", "seven!!", "payload"]);
    await engine.sendFrames(["kv-events"]);
    await engine.publish(batchFor(7));
    await waitFor(() => recorder.seqs.length === 1);
    expect(recorder.drops.get("malformed_frames")).toBe(3);
    expect(recorder.firstTokens).toEqual([7]);
  });

  it("takes only batches whose topic starts with the subscribed prefix", async () => {
    const { engine, recorder, stream } = await setup({ engineTopic: "other-events" });
    await stream.start();
    await engine.subscribed();
    await engine.publish(batchFor(1));
    await engine.sendFrames(["kv-events", Buffer.alloc(8), Buffer.from([0x93, 0x00, 0x90, 0x00])]);
    await waitFor(() => recorder.seqs.length === 1);
    // The only batch taken is the one on the "kv" prefix; "other-events" never reaches the stream.
    expect(recorder.firstTokens).toEqual([-1]);
  });

  it("refuses a taken endpoint and leaves nothing open", async () => {
    const first = await KvEventPublisher.open({ endpoint: "tcp://127.0.0.1:0", topic: "kv", bufferSteps: 1 });
    cleanup.push(() => first.close());
    await expect(
      KvEventPublisher.open({
        endpoint: first.endpoint.replace("127.0.0.1", "*"),
        topic: "kv",
        bufferSteps: 1,
      }),
    ).rejects.toThrow();
    await expect(
      KvEventPublisher.open({ endpoint: "tcp://*:0", topic: "kv", bufferSteps: 0 }),
    ).rejects.toThrow(/at least one/);
  });
});

describe("openZmqKvPublisher", () => {
  it("publishes each dp rank's events on that rank's stream, in vLLM's layout", async () => {
    const { create, KvEventSchema } = await import("@kvasir/protocol");
    const publisher = await openZmqKvPublisher(
      {
        endpoint: "tcp://127.0.0.1:0",
        replayEndpoint: "tcp://127.0.0.1:0",
        topic: "kv-events",
        bufferSteps: 8,
      },
      2,
    );
    cleanup.push(() => publisher.close());
    expect(publisher.endpoints).toHaveLength(2);
    expect(publisher.replayEndpoints).toHaveLength(2);
    const recorders = [new Recorder(), new Recorder()];
    const streams = publisher.endpoints.map((endpoint, rank) =>
      subscribe(endpoint, recorders[rank] ?? new Recorder(), {
        replayEndpoint: publisher.replayEndpoints[rank] ?? "",
      }),
    );
    const stored = (dpRank: number, first: number) =>
      create(KvEventSchema, {
        dpRank,
        data: {
          case: "stored",
          value: {
            blocks: [{ localHash: 1n, seqHash: BigInt(first) }],
            tokenIds: [first, 2, 3, 4],
            blockSize: 4,
          },
        },
      });
    // Published before anyone subscribed: the subscribers get them from the replay buffer on start.
    publisher.publish([stored(0, 10), stored(1, 20), stored(1, 21)]);
    await Promise.all(streams.map((s) => s.start()));
    await waitFor(() => recorders.every((r) => r.seqs.length === 1));
    expect(recorders[0]?.firstTokens).toEqual([10]);
    expect(recorders[1]?.firstTokens).toEqual([20]);
    expect(recorders[1]?.ranks).toEqual([1]);
  });
});
