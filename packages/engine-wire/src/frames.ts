/**
 * Frame layouts of vLLM/SGLang KV event streams (FORMATS.md §2.1): live messages `[topic, seq u64 BE, payload]`;
 * a replay request is `[empty delimiter, start seq]` from a DEALER; replay replies, after the delimiter, are
 * `[seq, payload]` (SGLang, older vLLM) or `[topic, seq, payload]` (current vLLM); the end of a replay is seq −1
 * with an empty payload.
 */

export interface SeqBatch {
  seq: bigint;
  payload: Uint8Array;
}

export type LiveFrames = ({ ok: true; topic: string } & SeqBatch) | { ok: false; reason: "malformed_frames" };

export type ReplayFrames = ({ kind: "batch" } & SeqBatch) | { kind: "end" } | { kind: "malformed" };

/** vLLM's end-of-replay marker: seq −1 as 8 signed big-endian bytes. */
export const END_OF_REPLAY_SEQ: Buffer = Buffer.alloc(8, 0xff);

/** A seq as 8 big-endian bytes (values outside u64 wrap, as a counter would). */
export function encodeSeq(seq: bigint): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(BigInt.asUintN(64, seq));
  return buf;
}

export function parseLiveFrames(frames: readonly Buffer[]): LiveFrames {
  const [topic, seq, payload] = frames;
  if (frames.length !== 3 || !topic || !seq || !payload || seq.length !== 8) {
    return { ok: false, reason: "malformed_frames" };
  }
  return { ok: true, topic: topic.toString("utf8"), seq: seq.readBigUInt64BE(), payload };
}

export function parseReplayFrames(frames: readonly Buffer[]): ReplayFrames {
  const body = frames[0]?.length === 0 ? frames.slice(1) : frames;
  // With three frames the first is the topic; with two there is none.
  const [seqFrame, payload] = body.length === 3 ? body.slice(1) : body;
  if ((body.length !== 2 && body.length !== 3) || !seqFrame || !payload || seqFrame.length !== 8) {
    return { kind: "malformed" };
  }
  const seq = seqFrame.readBigInt64BE();
  if (seq === -1n) return { kind: "end" };
  if (seq < 0n) return { kind: "malformed" };
  return { kind: "batch", seq, payload };
}

/**
 * The start seq of a replay request as a ROUTER receives it: vLLM accepts exactly
 * `[client id, empty delimiter, start seq]` and ignores anything else.
 */
export function parseReplayRequest(frames: readonly Buffer[]): { client: Buffer; from: bigint } | undefined {
  const [client, delimiter, start] = frames;
  if (frames.length !== 3 || !client || delimiter?.length !== 0 || !start || start.length !== 8)
    return undefined;
  return { client, from: start.readBigUInt64BE() };
}
