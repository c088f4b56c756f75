import { Dealer } from "zeromq";
import { encodeSeq, parseReplayFrames, type SeqBatch } from "./frames.js";

export interface ReplayResult {
  batches: SeqBatch[];
  /** False when the engine did not finish the replay in time or sent frames we cannot read. */
  complete: boolean;
}

/**
 * Asks an engine's replay ROUTER for every buffered batch from `fromSeq` on: a DEALER sends the start seq as
 * 8 big-endian bytes behind an empty delimiter (so the ROUTER sees vLLM's `[id, "", start]`) and reads
 * batches until the end marker. A fresh socket per request, so a late reply to a timed-out request cannot be
 * mistaken for the next one.
 */
export async function requestReplay(
  endpoint: string,
  fromSeq: bigint,
  timeoutMs: number,
): Promise<ReplayResult> {
  const dealer = new Dealer({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs });
  const batches: SeqBatch[] = [];
  try {
    dealer.connect(endpoint);
    await dealer.send(["", encodeSeq(fromSeq)]);
    for (;;) {
      const reply = parseReplayFrames(await dealer.receive());
      if (reply.kind === "end") return { batches, complete: true };
      if (reply.kind === "malformed") return { batches, complete: false };
      batches.push({ seq: reply.seq, payload: reply.payload });
    }
  } catch {
    // Timed out (engine gone or no replay socket there): keep what arrived.
    return { batches, complete: false };
  } finally {
    dealer.close();
  }
}
