/**
 * An unbounded push queue consumed by one `for await` loop. `end()` finishes the iteration after the queued
 * items; breaking out of the loop calls `onReturn` so the producer can stop.
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private waiting:
    | { resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void }
    | undefined;
  private ended = false;
  private failure: Error | undefined;

  constructor(private readonly onReturn: () => void = () => {}) {}

  push(item: T): void {
    if (this.ended) return;
    const waiting = this.waiting;
    if (waiting) {
      this.waiting = undefined;
      waiting.resolve({ value: item, done: false });
    } else {
      this.items.push(item);
    }
  }

  /** True once `end()` was called. */
  get finished(): boolean {
    return this.ended;
  }

  /** Finishes the iteration after the queued items; with an error, the consumer's loop throws it last. */
  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.failure = error;
    const waiting = this.waiting;
    this.waiting = undefined;
    if (!waiting) return;
    if (error) waiting.reject(error);
    else waiting.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.ended) {
          const failure = this.failure;
          this.failure = undefined;
          return failure ? Promise.reject(failure) : Promise.resolve({ value: undefined, done: true });
        }
        return new Promise((resolve, reject) => {
          this.waiting = { resolve, reject };
        });
      },
      return: () => {
        this.items.length = 0;
        this.end();
        this.onReturn();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}
