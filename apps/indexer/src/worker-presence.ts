import type { Discovery, DiscoveryWatch } from "@kvasir/runtime";
import { parseInstanceKey } from "@kvasir/runtime";

export interface PresenceHandlers {
  /** A worker instance registered (or re-registered); `value` is its discovery record. */
  joined?(workerId: bigint, value: unknown): void;
  left(workerId: bigint): void;
}

/**
 * Watches worker instances in discovery and reports the ones that come and go, so that their blocks leave the
 * index with them. Only the given components count (an indexer or router leaving holds no KV blocks).
 */
export class WorkerPresence {
  private readonly watch: DiscoveryWatch;
  private readonly loop: Promise<void>;

  constructor(
    discovery: Discovery,
    namespace: string,
    private readonly components: ReadonlySet<string>,
    private readonly handlers: PresenceHandlers,
  ) {
    this.watch = discovery.watch(`v1/instances/${namespace}/`);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    for await (const event of this.watch) {
      const parsed = parseInstanceKey(event.key);
      if (!parsed || !this.components.has(parsed.component)) continue;
      if (event.type === "delete") this.handlers.left(parsed.instanceId);
      else this.handlers.joined?.(parsed.instanceId, event.value);
    }
  }

  /** Worker ids registered now under the watched components. */
  static async present(
    discovery: Discovery,
    namespace: string,
    components: ReadonlySet<string>,
  ): Promise<Set<bigint>> {
    const present = new Set<bigint>();
    for (const entry of await discovery.list(`v1/instances/${namespace}/`)) {
      const parsed = parseInstanceKey(entry.key);
      if (parsed && components.has(parsed.component)) present.add(parsed.instanceId);
    }
    return present;
  }

  async stop(): Promise<void> {
    this.watch.stop();
    await this.loop;
  }
}
