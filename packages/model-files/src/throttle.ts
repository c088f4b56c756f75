// A token bucket: caps the bytes per second that pass through it (a peer's upload, a benchmark's source).

export class Throttle {
  private tokens: number;
  private last: number;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    // A burst of 50 ms worth of bytes: smooth enough, and no long sleeps for small reads.
    this.tokens = this.burst;
    this.last = now();
  }

  private get burst(): number {
    return Math.max(64 * 1024, this.bytesPerSecond / 20);
  }

  /** Resolves once `n` bytes may pass; callers are served in order. */
  take(n: number): Promise<void> {
    const turn = this.queue.then(() => this.wait(n));
    this.queue = turn;
    return turn;
  }

  private async wait(n: number): Promise<void> {
    for (;;) {
      const at = this.now();
      this.tokens = Math.min(this.burst, this.tokens + ((at - this.last) * this.bytesPerSecond) / 1000);
      this.last = at;
      if (this.tokens >= Math.min(n, this.burst)) {
        this.tokens -= n;
        return;
      }
      const needMs = ((Math.min(n, this.burst) - this.tokens) * 1000) / this.bytesPerSecond;
      await new Promise((resolve) => setTimeout(resolve, Math.max(1, needMs)));
    }
  }
}

/** Passes a byte stream through a throttle (none when undefined). */
export async function* throttled(
  source: AsyncIterable<Uint8Array>,
  throttle: Throttle | undefined,
): AsyncGenerator<Uint8Array> {
  for await (const data of source) {
    if (throttle) await throttle.take(data.length);
    yield data;
  }
}
