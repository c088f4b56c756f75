// The request path as linked stages (Dynamo's pipeline): each stage wraps the next with one signature, so the
// frontend and the router's Generate assemble the same chain, and disaggregation adds one more link.
import { type Context, context } from "@opentelemetry/api";
import type { EngineOutput, ServingRequest } from "../engine-params.js";
import type { PoolWorker, WorkerPool } from "../worker-pool.js";
import type { WorkerRouter } from "../worker-router.js";

/** The worker and dp rank one attempt of a request runs on, and the pool it came from. */
export interface Attempt {
  worker: PoolWorker;
  dpRank: number;
  pool: WorkerPool;
}

/** Why a request moved to another worker: before its first token (retry) or mid-stream (migration). */
export interface MoveInfo {
  kind: "retry" | "migration";
  requestId: string;
  model: string;
  instanceId: bigint;
  /** Tokens generated before the move. */
  generated: number;
  error: unknown;
}

/** Which leg of a request the stages are running: a whole request, or one side of disaggregated serving. */
export type Phase = "aggregated" | "prefill" | "decode";

/** How a disaggregated request went: prefilled remotely, locally by choice, or locally after a prefill failure. */
export type DisaggregationOutcome = "remote" | "local" | "fallback";

/** Per-request state the stages share. */
export interface ServingContext {
  /** Client gone or deadline passed: every stage stops and the worker's stream is cancelled. */
  signal: AbortSignal;
  /** Trace context the stages' spans hang from. */
  trace: Context;
  /** Workers that failed this request; routing skips them. */
  readonly failed: Set<bigint>;
  /** The current attempt, set by the route stage. */
  attempt?: Attempt;
  /** The leg being run; the disaggregation stage sets it. */
  phase: Phase;
  /** Told when routing starts and when the request is handed to a worker (stage metrics). */
  onStage?(stage: "route" | "dispatch", phase: Phase): void;
  onMove?(info: MoveInfo): void;
  /** Told how a request was prefilled when its model is served disaggregated. */
  onDisaggregation?(outcome: DisaggregationOutcome, error?: unknown): void;
}

/** A generator rather than any iterable, so a caller that stops reading can end it (and the worker's stream). */
export type Handler = (
  request: ServingRequest,
  ctx: ServingContext,
) => AsyncGenerator<EngineOutput, void, undefined>;
export type Stage = (next: Handler) => Handler;

/** Where a request for a model is routed: a pool and the router over it. */
export interface RoutingTarget {
  pool: WorkerPool;
  router: WorkerRouter;
}

/** Picks the target of a request; undefined when no pool serves its model. */
export type TargetFor = (request: ServingRequest) => RoutingTarget | undefined;

/** Links stages around the terminal handler; the first stage is the outermost. */
export function pipeline(stages: readonly Stage[], terminal: Handler): Handler {
  return stages.reduceRight<Handler>((next, stage) => stage(next), terminal);
}

/** A fresh context for one request; spans hang from the active trace context unless another is given. */
export function servingContext(
  signal: AbortSignal,
  options: Partial<Pick<ServingContext, "trace" | "onStage" | "onMove" | "onDisaggregation">> = {},
): ServingContext {
  return { trace: context.active(), phase: "aggregated", ...options, signal, failed: new Set() };
}
