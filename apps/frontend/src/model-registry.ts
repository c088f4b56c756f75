import type { InstanceRecord, ModelDeploymentCard } from "@kvasir/protocol";
import { type Discovery, type DiscoveryEvent, followPrefix, parseInstanceId } from "@kvasir/runtime";
import type { WorkerInstance } from "./route-request.js";

/** A model some worker serves, as `/v1/models` and the handlers see it. */
export interface ServedModel<P> {
  /** The name clients sent (the served name or one of its aliases). */
  readonly id: string;
  /** The served name the workers registered under. */
  readonly name: string;
  readonly card: ModelDeploymentCard;
  /** When the model was first seen, in Unix seconds (OpenAI's `created`). */
  readonly created: number;
  readonly workers: readonly WorkerInstance[];
  /** Tokenizer and chat template, loaded once per model directory. */
  preprocessor(): Promise<P>;
}

interface CardEntry {
  instanceId: bigint;
  model: string;
  card: ModelDeploymentCard;
}

export interface ModelRegistryOptions<P> {
  namespace: string;
  /** Component whose `generate` endpoint serves requests. */
  component?: string;
  /** Overrides every card's tokenizer directory (`--model-path`). */
  modelPath?: string;
  load(dir: string, card: ModelDeploymentCard): Promise<P>;
  /** Told when a worker leaves discovery, so per-worker state can go. */
  onWorkerGone?(instanceId: bigint): void;
  onError?(error: unknown, context: Record<string, unknown>): void;
}

/**
 * Models and their workers from discovery: `v1/mdc/{ns}/{model}/{id}` cards joined with
 * `v1/instances/{ns}/backend/generate/{id}` records. A model exists while at least one worker has both.
 */
export class ModelRegistry<P> {
  /** By discovery key, so one worker may serve several models. */
  private readonly cards = new Map<string, CardEntry>();
  private readonly instances = new Map<bigint, InstanceRecord>();
  private readonly firstSeen = new Map<string, number>();
  private readonly loaded = new Map<string, Promise<P>>();
  private readonly stops: (() => void)[] = [];
  private readonly mdcPrefix: string;
  private readonly instancePrefix: string;

  constructor(private readonly options: ModelRegistryOptions<P>) {
    this.mdcPrefix = `v1/mdc/${options.namespace}/`;
    this.instancePrefix = `v1/instances/${options.namespace}/${options.component ?? "backend"}/generate/`;
  }

  /** Reads the current entries, then follows changes until `close()`. */
  async start(discovery: Discovery): Promise<void> {
    for (const prefix of [this.mdcPrefix, this.instancePrefix]) {
      const stop = await followPrefix(
        discovery,
        prefix,
        (event) => this.apply(event),
        (error) => this.options.onError?.(error, { prefix }),
      );
      this.stops.push(stop);
    }
  }

  close(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  /** Applies one discovery change (exported for tests that drive the registry by hand). */
  apply(event: DiscoveryEvent): void {
    if (event.key.startsWith(this.mdcPrefix)) this.applyCard(event);
    else if (event.key.startsWith(this.instancePrefix)) this.applyInstance(event);
  }

  private applyCard(event: DiscoveryEvent): void {
    const rest = event.key.slice(this.mdcPrefix.length);
    const slash = rest.lastIndexOf("/");
    if (slash <= 0) return;
    const id = this.parseId(rest.slice(slash + 1));
    if (id === undefined) return;
    if (event.type === "delete") {
      this.cards.delete(event.key);
      return;
    }
    const card = event.value as ModelDeploymentCard;
    if (typeof card?.name !== "string") return;
    this.cards.set(event.key, {
      instanceId: id,
      model: card.name,
      card: { ...card, aliases: card.aliases ?? [] },
    });
    if (!this.firstSeen.has(card.name)) this.firstSeen.set(card.name, Math.floor(Date.now() / 1000));
  }

  private applyInstance(event: DiscoveryEvent): void {
    const id = this.parseId(event.key.slice(this.instancePrefix.length));
    if (id === undefined) return;
    if (event.type === "delete") {
      if (this.instances.delete(id)) this.options.onWorkerGone?.(id);
      return;
    }
    const record = event.value as InstanceRecord;
    if (typeof record?.address !== "string") return;
    this.instances.set(id, record);
  }

  private parseId(text: string): bigint | undefined {
    try {
      return parseInstanceId(text);
    } catch {
      return undefined;
    }
  }

  /** Workers serving the named (served) model. */
  workersOf(name: string): WorkerInstance[] {
    const workers: WorkerInstance[] = [];
    for (const entry of this.cards.values()) {
      if (entry.model !== name) continue;
      const record = this.instances.get(entry.instanceId);
      if (!record) continue;
      workers.push({
        instanceId: entry.instanceId,
        address: record.address,
        dataParallelSize: Math.max(1, entry.card.runtimeConfig?.dataParallelSize ?? 1),
      });
    }
    return workers;
  }

  /** The model a client names, by served name or alias; undefined when no live worker serves it. */
  resolve(id: string): ServedModel<P> | undefined {
    for (const entry of this.cards.values()) {
      if (entry.model !== id && !entry.card.aliases.includes(id)) continue;
      const workers = this.workersOf(entry.model);
      if (workers.length === 0) continue;
      return this.served(id, entry, workers);
    }
    return undefined;
  }

  /** Every live name (served names and aliases), each once. */
  list(): ServedModel<P>[] {
    const seen = new Set<string>();
    const models: ServedModel<P>[] = [];
    for (const entry of this.cards.values()) {
      if (seen.has(entry.model)) continue;
      const workers = this.workersOf(entry.model);
      if (workers.length === 0) continue;
      for (const id of [entry.model, ...entry.card.aliases]) {
        if (seen.has(id)) continue;
        seen.add(id);
        models.push(this.served(id, entry, workers));
      }
    }
    return models;
  }

  private served(id: string, entry: CardEntry, workers: WorkerInstance[]): ServedModel<P> {
    return {
      id,
      name: entry.model,
      card: entry.card,
      created: this.firstSeen.get(entry.model) ?? 0,
      workers,
      preprocessor: () => this.preprocessorOf(entry.card),
    };
  }

  private preprocessorOf(card: ModelDeploymentCard): Promise<P> {
    const dir = this.options.modelPath ?? card.tokenizerPath;
    const key = `${dir}\0${card.chatTemplate ?? ""}`;
    let loading = this.loaded.get(key);
    if (!loading) {
      loading = this.options.load(dir, card);
      // A failed load is retried by the next request rather than cached forever.
      loading.catch(() => this.loaded.delete(key));
      this.loaded.set(key, loading);
    }
    return loading;
  }
}
