// The outer EventBatch `[ts, events, dp_rank]` as msgspec writes it. msgspec always writes a float field as
// float64, while @msgpack/msgpack would write a whole-second timestamp as an integer; the header is therefore
// written by hand and only the events go through the generic encoder.
import { encode } from "@msgpack/msgpack";

export function encodeBatchArray(tsSeconds: number, events: unknown, dpRank: number | null): Uint8Array {
  const head = new Uint8Array(10);
  head[0] = 0x93; // fixarray of 3
  head[1] = 0xcb; // float64
  new DataView(head.buffer).setFloat64(2, tsSeconds);
  const body = encode(events, { useBigInt64: true });
  const rank = encode(dpRank);
  const out = new Uint8Array(head.length + body.length + rank.length);
  out.set(head, 0);
  out.set(body, head.length);
  out.set(rank, head.length + body.length);
  return out;
}
