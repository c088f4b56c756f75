import { assertSubject, subjectMatches } from "../subjects.js";
import { reportHandlerError } from "./report.js";
import type { EventMessage, EventPlane, Subscription } from "./types.js";

interface MemorySubscription {
  pattern: string;
  handler: (message: EventMessage) => void;
}

/**
 * Event plane within one process. Delivery is asynchronous (a microtask per message, in publish order), as over
 * NATS, so a publisher never runs subscriber code inside its own call. Each instance is its own bus; apps in one
 * process share one by being given the same instance.
 */
export class MemoryEventPlane implements EventPlane {
  private readonly all = new Set<MemorySubscription>();
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
    return {
      unsubscribe: () => {
        this.all.delete(subscription);
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
    this.all.clear();
  }
}
