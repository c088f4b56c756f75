import { waitFor } from "@kvasir/testing";
import { decode } from "@msgpack/msgpack";
import { afterEach, describe, expect, it } from "vitest";
import { type ZmqDropReason, ZmqKvStream, type ZmqStreamHandler } from "../src/zmq-stream.js";
import { blockStored, EnginePublisher } from "./engine-publisher.js";

/** Records what a stream hands over, in order. */
class Recorder implements ZmqStreamHandler {
  readonly seqs: bigint[] = [];
  readonly learnt: bigint[] = [];
  readonly firstTokens: number[] = [];
  restarts = 0;
  readonly drops = new Map<ZmqDropReason, number>();

  batch(seq: bigint, payload: Uint8Array): void {
    this.seqs.push(seq);
    const [, events] = decode(payload) as [number, { token_ids: number[] }[]];
    this.firstTokens.push(events[0]?.token_ids[0] ?? -1);
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
  return [blockStored([marker, 1, 2, 3], 4, [BigInt(marker) * 1000n])];
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of cleanup.reverse()) await close();
  cleanup = [];
});

async function setup(options: { replay?: boolean; watermark?: bigint; engineTopic?: string } = {}) {
  const engine = await EnginePublisher.open(options.engineTopic);
  const recorder = new Recorder();
  const stream = new ZmqKvStream(
    {
      endpoint: engine.endpoint,
      ...(options.replay === false ? {} : { replayEndpoint: engine.replayEndpoint }),
      topic: "kv",
      replayTimeoutMs: 2000,
      ...(options.watermark === undefined ? {} : { watermark: options.watermark }),
    },
    recorder,
    quietLog,
  );
  cleanup.push(
    () => engine.close(),
    () => stream.close(),
  );
  return { engine, recorder, stream };
}

describe("ZmqKvStream against a vLLM-style publisher", () => {
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
    await engine.publish(batchFor(11), { lose: true });
    await engine.publish(batchFor(12), { lose: true });
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
    await engine.publish(batchFor(1), { lose: true });
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
    engine.restart();
    await engine.publish(batchFor(100));
    await waitFor(() => recorder.restarts === 1 && recorder.seqs.length === 1);
    expect(recorder.seqs).toEqual([0n]);
    expect(recorder.firstTokens.at(-1)).toBe(100);
  });

  it("catches up from a watermark on start without live traffic", async () => {
    const { engine, recorder, stream } = await setup({ watermark: 1n });
    for (let i = 0; i < 4; i++) await engine.publish(batchFor(i), { lose: true });
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

  it("survives garbage and truncated frames and counts them", async () => {
    const { engine, recorder, stream } = await setup();
    await stream.start();
    await engine.subscribed();
    await engine.sendRaw(["kv-events", "short"]);
    await engine.sendRaw(["kv-events", "seven!!", "payload"]);
    await engine.sendRaw(["kv-events"]);
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
    await engine.sendRaw(["kv-events", Buffer.alloc(8), Buffer.from([0x93, 0x00, 0x90, 0x00])]);
    await waitFor(() => recorder.seqs.length === 1);
    // The only batch taken is the one on the "kv" prefix; "other-events" never reaches the stream.
    expect(recorder.firstTokens).toEqual([-1]);
  });
});
