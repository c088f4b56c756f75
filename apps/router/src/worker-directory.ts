// The workers a router may choose from, followed in discovery: `v1/instances/{ns}/{component}/generate/{id}`
// records joined with their `v1/mdc/{ns}/{model}/{id}` cards (block size, data-parallel size, batch budget).
import type { KvRouterWorker } from "@kvasir/kv";
import type { InstanceRecord, ModelDeploymentCard } from "@kvasir/protocol";
import { type Discovery, type DiscoveryEvent, followPrefix, parseInstanceId } from "@kvasir/runtime";

export interface RoutableWorker extends KvRouterWorker {
  address: string;
  model: string;
  /** Names the worker answers to: its card's name and aliases. */
  names: readonly string[];
  blockSize: number;
}

export interface WorkerDirectoryOptions {
  namespace: string;
  /** Worker component, `backend` for aggregated workers. */
  component: string;
  /** A worker left discovery. */
  onGone?(workerId: bigint): void;
  /** A worker became routable. */
  onReady?(workerId: bigint): void;
  onError?(error: unknown): void;
}

export class WorkerDirectory {
  private readonly instances = new Map<bigint, InstanceRecord>();
  private readonly cards = new Map<bigint, ModelDeploymentCard>();
  private readonly stops: (() => void)[] = [];
  private readonly instancePrefix: string;
  private readonly mdcPrefix: string;

  constructor(private readonly options: WorkerDirectoryOptions) {
    this.instancePrefix = `v1/instances/${options.namespace}/${options.component}/generate/`;
    this.mdcPrefix = `v1/mdc/${options.namespace}/`;
  }

  async start(discovery: Discovery): Promise<void> {
    for (const prefix of [this.mdcPrefix, this.instancePrefix]) {
      const stop = await followPrefix(
        discovery,
        prefix,
        (event) => this.apply(event),
        (error) => this.options.onError?.(error),
      );
      this.stops.push(stop);
    }
  }

  stop(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  /** Routable workers serving `model`; every routable worker when model is empty. */
  workersFor(model: string): RoutableWorker[] {
    const out: RoutableWorker[] = [];
    for (const [id, record] of this.instances) {
      const card = this.cards.get(id);
      if (card === undefined) continue;
      const names = [card.name, ...card.aliases];
      if (model !== "" && !names.includes(model)) continue;
      out.push({
        workerId: id,
        address: record.address,
        model: card.name,
        names,
        blockSize: card.kvCacheBlockSize,
        dataParallelSize: Math.max(card.runtimeConfig.dataParallelSize, 1),
        maxNumBatchedTokens: card.runtimeConfig.maxNumBatchedTokens,
      });
    }
    // A stable order, so ties break the same way on every replica.
    return out.sort((a, b) => (a.workerId < b.workerId ? -1 : a.workerId > b.workerId ? 1 : 0));
  }

  get size(): number {
    return this.workersFor("").length;
  }

  private apply(event: DiscoveryEvent): void {
    const id = idOf(event.key);
    if (id === undefined) return;
    const wasReady = this.instances.has(id) && this.cards.has(id);
    if (event.key.startsWith(this.instancePrefix)) {
      if (event.type === "delete") {
        this.instances.delete(id);
        if (wasReady) this.options.onGone?.(id);
        return;
      }
      if (isInstanceRecord(event.value)) this.instances.set(id, event.value);
    } else if (event.key.startsWith(this.mdcPrefix)) {
      if (event.type === "delete") {
        this.cards.delete(id);
        return;
      }
      if (isCard(event.value)) this.cards.set(id, event.value);
    }
    if (!wasReady && this.instances.has(id) && this.cards.has(id)) this.options.onReady?.(id);
  }
}

function idOf(key: string): bigint | undefined {
  const last = key.slice(key.lastIndexOf("/") + 1);
  try {
    return parseInstanceId(last);
  } catch {
    return undefined;
  }
}

function isInstanceRecord(v: unknown): v is InstanceRecord {
  return typeof v === "object" && v !== null && typeof (v as { address?: unknown }).address === "string";
}

function isCard(v: unknown): v is ModelDeploymentCard {
  if (typeof v !== "object" || v === null) return false;
  const c = v as Partial<ModelDeploymentCard>;
  return (
    typeof c.name === "string" &&
    Array.isArray(c.aliases) &&
    typeof c.kvCacheBlockSize === "number" &&
    typeof c.runtimeConfig === "object" &&
    c.runtimeConfig !== null
  );
}
