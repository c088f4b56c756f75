// Open-loop replay: each request is sent at its trace timestamp (gaps divided by `speedup`), whether or not
// earlier requests have finished, so a slow system sees the load pile up as it would in production.
import { setTimeout as sleep } from "node:timers/promises";

/** Send offsets in ms from the first request: (timestamp - first timestamp) / speedup. */
export function replaySchedule(timestamps: readonly number[], speedup = 1): number[] {
  if (!(speedup > 0)) throw new Error("speedup must be positive");
  const first = timestamps[0] ?? 0;
  return timestamps.map((t) => (t - first) / speedup);
}

export interface ReplayClock {
  /** Milliseconds on a monotonic clock. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: ReplayClock = {
  now: () => performance.now(),
  sleep: async (ms) => {
    await sleep(ms);
  },
};

/**
 * Calls `send(i)` at each offset of `schedule` without waiting for earlier sends, and resolves with every send's
 * result once all have settled. Late sends (the loop fell behind) go out at once rather than being dropped.
 */
export async function replayOpenLoop<T>(
  schedule: readonly number[],
  send: (index: number) => Promise<T>,
  clock: ReplayClock = realClock,
): Promise<T[]> {
  const start = clock.now();
  const pending: Promise<T>[] = [];
  for (let i = 0; i < schedule.length; i++) {
    const wait = start + (schedule[i] as number) - clock.now();
    if (wait > 0) await clock.sleep(wait);
    pending.push(send(i));
  }
  return Promise.all(pending);
}
