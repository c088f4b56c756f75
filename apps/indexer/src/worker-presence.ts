import type { Discovery, DiscoveryWatch } from "@kvasir/runtime";
import { parseInstanceId } from "@kvasir/runtime";

/** `v1/instances/{ns}/{component}/{endpoint}/{id}` → component and instance id, when the key has that shape. */
export function parseInstanceKey(key: string): { component: string; instanceId: bigint } | undefined {
  const parts = key.split("/");
  const [v1, kind, , component, , id] = parts;
  if (parts.length !== 6 || v1 !== "v1" || kind !== "instances" || !component || !id) return undefined;
  try {
    return { component, instanceId: parseInstanceId(id) };
  } catch {
    return undefined;
  }
}

/**
 * Watches worker instances in discovery and reports the ones that leave, so their blocks leave the index with
 * them. Only the given components count (an indexer or router leaving holds no KV blocks).
 */
export class WorkerPresence {
  private readonly watch: DiscoveryWatch;
  private readonly loop: Promise<void>;

  constructor(
    discovery: Discovery,
    namespace: string,
    private readonly components: ReadonlySet<string>,
    private readonly left: (workerId: bigint) => void,
  ) {
    this.watch = discovery.watch(`v1/instances/${namespace}/`);
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    for await (const event of this.watch) {
      if (event.type !== "delete") continue;
      const parsed = parseInstanceKey(event.key);
      if (parsed && this.components.has(parsed.component)) this.left(parsed.instanceId);
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
