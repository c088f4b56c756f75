import { assertSubject, subjectMatches } from "../subjects.js";
import { reportHandlerError } from "./report.js";
import type { EventMessage, EventPlane, Subscription } from "./types.js";

interface MemorySubscription {
  pattern: string;
  handler: (message: EventMessage) => void;
}

const SUBSCRIPTIONS = Symbol.for("kvasir.runtime.memoryEventPlane");

/** Shared by every memory EventPlane in the process (through globalThis so duplicate module copies agree). */
function processSubscriptions(): Set<MemorySubscription> {
  const holder = globalThis as { [SUBSCRIPTIONS]?: Set<MemorySubscription> };
  holder[SUBSCRIPTIONS] ??= new Set();
  return holder[SUBSCRIPTIONS];
}

/**
 * Event plane within one process. Delivery is asynchronous (a microtask per message, in publish order), as over
 * NATS, so a publisher never runs subscriber code inside its own call.
 */
export class MemoryEventPlane implements EventPlane {
  private readonly all = processSubscriptions();
  private readonly mine = new Set<MemorySubscription>();
  private closed = false;

  publish(subject: string, data: Uint8Array, headers: Record<string, string> = {}): void {
    assertSubject(subject, false);
    // Fire and forget: after close there is nobody to deliver to on this plane's behalf.
    if (this.closed) return;
    const targets = [...this.all].filter((sub) => subjectMatches(sub.pattern, subject));
    if (targets.length === 0) return;
    const message: EventMessage = { subject, data, headers: { ...headers } };
    queueMicrotask(() => {
      for (const target of targets) {
        if (!this.all.has(target)) continue;
        try {
          target.handler(message);
        } catch (error) {
          reportHandlerError(subject, error);
        }
      }
    });
  }

  subscribe(pattern: string, handler: (message: EventMessage) => void): Subscription {
    if (this.closed) throw new Error("event plane is closed");
    assertSubject(pattern, true);
    const subscription: MemorySubscription = { pattern, handler };
    this.all.add(subscription);
    this.mine.add(subscription);
    return {
      unsubscribe: () => {
        this.all.delete(subscription);
        this.mine.delete(subscription);
      },
    };
  }

  async flush(): Promise<void> {
    // Deliveries are queued microtasks; a macrotask turn runs after all of them.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    for (const subscription of this.mine) this.all.delete(subscription);
    this.mine.clear();
  }
}
