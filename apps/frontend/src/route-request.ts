/** What a router needs to know about one request; kept per request so KV-aware routing needs no handler change. */
export interface RouteRequest {
  requestId: string;
  model: string;
  tokenIds: readonly number[];
  /** The model's KV block size, for routers that hash the prompt into blocks. */
  blockSize: number;
  loraName?: string;
  cacheSalt?: string;
  /** `nvext.agent_hints.priority`: higher runs earlier. */
  priority: number;
  /** `nvext.backend_instance_id`: the worker `direct` mode must use. */
  backendInstanceId?: bigint;
}

/** A worker the model registry knows to be serving the request's model. */
export interface WorkerInstance {
  instanceId: bigint;
  /** Base URL of its Connect server. */
  address: string;
  dataParallelSize: number;
}

export interface RouteDecision {
  instanceId: bigint;
  dpRank: number;
}

/**
 * Picks a worker for a request. `workers` excludes those that already failed this request. The frontend tells the
 * router when a request has its first token and when it ends so a router that tracks active sequences (kv mode)
 * stays in step; simple policies ignore both.
 */
export interface Router {
  route(request: RouteRequest, workers: readonly WorkerInstance[]): RouteDecision | Promise<RouteDecision>;
  prefillComplete?(requestId: string): void;
  free?(requestId: string): void;
  close?(): Promise<void>;
}

export const routerModes = ["round-robin", "random", "least-loaded", "direct", "kv"] as const;
export type RouterMode = (typeof routerModes)[number];
