import type { ModelDeploymentCard } from "@kvasir/protocol";
import type { PoolWorker, WorkerPool } from "@kvasir/serving";

/** A model some worker serves, as `/v1/models` and the handlers see it. */
export interface ServedModel<P> {
  /** The name clients sent (the served name or one of its aliases). */
  readonly id: string;
  /** The served name the workers registered under. */
  readonly name: string;
  readonly card: ModelDeploymentCard;
  /** When the model was first seen, in Unix seconds (OpenAI's `created`). */
  readonly created: number;
  /** Its workers in every pool (aggregated, prefill, decode). */
  readonly workers: readonly PoolWorker[];
  /** Tokenizer and chat template, loaded once per model directory. */
  preprocessor(): Promise<P>;
}

export interface ModelRegistryOptions<P> {
  /** The worker pools whose models are served; the first pool with a worker of a model gives its card. */
  pools: readonly WorkerPool[];
  /** Overrides every card's tokenizer directory (`--model-path`). */
  modelPath?: string;
  load(dir: string, card: ModelDeploymentCard): Promise<P>;
  /** The local directory for a card's (or --model-path's) directory: fetches the tokenizer files of a model not on this host. */
  localDir?: (dir: string) => Promise<string>;
  /** How long a model whose last worker left still answers 503 (retry) rather than 404. Default 60 s. */
  recentMs?: number;
  now?: () => number;
}

const DEFAULT_RECENT_MS = 60_000;

/** The models the workers' pools serve, by served name or alias, with their preprocessing loaded on demand. */
export class ModelRegistry<P> {
  private readonly firstSeen = new Map<string, number>();
  private readonly loaded = new Map<string, Promise<P>>();
  /** When each name (served name or alias) last lost a worker: a client naming it soon after is told to retry. */
  private readonly lastServed = new Map<string, number>();
  private readonly now: () => number;

  constructor(private readonly options: ModelRegistryOptions<P>) {
    this.now = options.now ?? Date.now;
    for (const pool of options.pools) {
      pool.onChange((change) => {
        if (change.type !== "removed") return;
        const at = this.now();
        for (const name of change.worker.names) this.lastServed.set(name, at);
      });
    }
  }

  /**
   * Whether a worker served `id` recently though none does now (a worker restarting, a discovery outage): the
   * request is worth retrying, so it gets 503, not 404.
   */
  recentlyServed(id: string): boolean {
    const at = this.lastServed.get(id);
    if (at === undefined) return false;
    if (this.now() - at <= (this.options.recentMs ?? DEFAULT_RECENT_MS)) return true;
    this.lastServed.delete(id);
    return false;
  }

  /** The model a client names, by served name or alias; undefined when no live worker serves it. */
  resolve(id: string): ServedModel<P> | undefined {
    const workers = this.options.pools.flatMap((pool) => pool.registered(id));
    const first = workers[0];
    if (first === undefined) return undefined;
    return this.served(id, first.card, this.workersOf(first.model));
  }

  /** Every live name (served names and aliases), each once. */
  list(): ServedModel<P>[] {
    const byName = new Map<string, ModelDeploymentCard>();
    for (const pool of this.options.pools) {
      for (const worker of pool.registered())
        if (!byName.has(worker.model)) byName.set(worker.model, worker.card);
    }
    const seen = new Set<string>();
    const models: ServedModel<P>[] = [];
    for (const [name, card] of byName) {
      const workers = this.workersOf(name);
      for (const id of [name, ...card.aliases]) {
        if (seen.has(id)) continue;
        seen.add(id);
        models.push(this.served(id, card, workers));
      }
    }
    return models;
  }

  private workersOf(name: string): PoolWorker[] {
    return this.options.pools.flatMap((pool) => pool.registered(name).filter((w) => w.model === name));
  }

  private served(id: string, card: ModelDeploymentCard, workers: PoolWorker[]): ServedModel<P> {
    let created = this.firstSeen.get(card.name);
    if (created === undefined) {
      created = Math.floor(Date.now() / 1000);
      this.firstSeen.set(card.name, created);
    }
    return { id, name: card.name, card, created, workers, preprocessor: () => this.preprocessorOf(card) };
  }

  private preprocessorOf(card: ModelDeploymentCard): Promise<P> {
    const dir = this.options.modelPath ?? card.tokenizerPath;
    const key = `${dir}\0${card.chatTemplate ?? ""}`;
    let loading = this.loaded.get(key);
    if (!loading) {
      const localDir = this.options.localDir;
      loading = localDir
        ? localDir(dir).then((local) => this.options.load(local, card))
        : this.options.load(dir, card);
      // A failed load is retried by the next request rather than cached forever.
      loading.catch(() => this.loaded.delete(key));
      this.loaded.set(key, loading);
    }
    return loading;
  }
}
