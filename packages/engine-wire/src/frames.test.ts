import { describe, expect, it } from "vitest";
import {
  END_OF_REPLAY_SEQ,
  encodeSeq,
  parseLiveFrames,
  parseReplayFrames,
  parseReplayRequest,
} from "./frames.js";

const empty = Buffer.alloc(0);

describe("ZMQ frames", () => {
  it("encodes seq as 8 big-endian bytes", () => {
    expect([...encodeSeq(258n)]).toEqual([0, 0, 0, 0, 0, 0, 1, 2]);
    expect(encodeSeq(-1n)).toEqual(END_OF_REPLAY_SEQ);
  });

  it("reads a live message [topic, seq, payload]", () => {
    const parsed = parseLiveFrames([Buffer.from("kv-events"), encodeSeq(7n), Buffer.from([1, 2])]);
    expect(parsed).toEqual({ ok: true, topic: "kv-events", seq: 7n, payload: Buffer.from([1, 2]) });
  });

  it("rejects live messages with the wrong frame count or seq width", () => {
    expect(parseLiveFrames([Buffer.from("t"), encodeSeq(1n)]).ok).toBe(false);
    expect(parseLiveFrames([Buffer.from("t"), Buffer.from([1, 2, 3]), Buffer.from("p")]).ok).toBe(false);
    expect(parseLiveFrames([Buffer.from("t"), encodeSeq(1n), Buffer.from("p"), Buffer.from("x")]).ok).toBe(
      false,
    );
  });

  it("reads both replay layouts and their end markers", () => {
    const payload = Buffer.from("batch");
    expect(parseReplayFrames([empty, encodeSeq(3n), payload])).toEqual({ kind: "batch", seq: 3n, payload });
    expect(parseReplayFrames([empty, Buffer.from("kv"), encodeSeq(3n), payload])).toEqual({
      kind: "batch",
      seq: 3n,
      payload,
    });
    expect(parseReplayFrames([empty, END_OF_REPLAY_SEQ, empty])).toEqual({ kind: "end" });
    expect(parseReplayFrames([empty, empty, END_OF_REPLAY_SEQ, empty])).toEqual({ kind: "end" });
    expect(parseReplayFrames([empty, Buffer.from([9])])).toEqual({ kind: "malformed" });
    expect(parseReplayFrames([empty, encodeSeq(-2n), payload])).toEqual({ kind: "malformed" });
  });

  it("reads replay requests only in vLLM's exact layout", () => {
    const client = Buffer.from([0, 1, 2, 3, 4]);
    expect(parseReplayRequest([client, empty, encodeSeq(42n)])).toEqual({ client, from: 42n });
    expect(parseReplayRequest([client, empty, Buffer.from([1])])).toBeUndefined();
    expect(parseReplayRequest([client, Buffer.from("x"), encodeSeq(1n)])).toBeUndefined();
    expect(parseReplayRequest([client, encodeSeq(1n)])).toBeUndefined();
  });
});
