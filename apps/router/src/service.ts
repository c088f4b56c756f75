// RouterService over Connect: KvRouter decisions (BestWorker, PotentialLoads), booking control
// (MarkPrefillComplete, Free), and Generate, which routes, streams the chosen worker's WorkerService.Generate and
// keeps the booking in step (prefill complete at the first response, free at the end).
import { randomUUID } from "node:crypto";
import type { Interceptor } from "@connectrpc/connect";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type KvRouteRequest,
  type KvRouter,
  NoWorkersError,
  QueueFullError,
  RouterClosedError,
} from "@kvasir/kv";
import { create, PotentialLoadsResponseSchema, type RouterService, WorkerService } from "@kvasir/protocol";
import { createClient } from "@kvasir/runtime";
import type { RouterMetrics } from "@kvasir/telemetry";
import type { RoutableWorker, WorkerDirectory } from "./worker-directory.js";

export interface RouterServiceDeps {
  router: KvRouter;
  workers: WorkerDirectory;
  /** --kv-cache-block-size; the workers' card otherwise. */
  blockSize?: number;
  metrics: RouterMetrics;
  /** Client interceptors for calls to workers (trace propagation). */
  interceptors?: Interceptor[];
  /** Counts streams in flight, for draining. */
  inFlight: { started(): void; ended(): void };
}

interface Shape {
  requestId: string;
  model: string;
  tokenIds: number[];
  localHashes?: bigint[];
  loraName: string;
  cacheSalt: string;
  priority?: number;
}

/** A KvRouter request from the RPC's fields, for the workers it may go to. */
function routeRequest(
  m: Shape,
  workers: readonly RoutableWorker[],
  blockSize: number | undefined,
): KvRouteRequest {
  const hashes = m.localHashes ?? [];
  if (hashes.length > 0 && m.tokenIds.length > 0) {
    throw new ConnectError("give either token_ids or local_hashes, not both", Code.InvalidArgument);
  }
  const r: KvRouteRequest = {
    requestId: m.requestId,
    blockSize: blockSize ?? workers[0]?.blockSize ?? 16,
    priority: m.priority ?? 0,
  };
  if (hashes.length > 0) r.localHashes = BigUint64Array.from(hashes);
  else r.tokenIds = m.tokenIds;
  if (m.loraName) r.loraName = m.loraName;
  if (m.cacheSalt) r.cacheSalt = m.cacheSalt;
  return r;
}

/** KvRouter failures as Connect codes: a full queue sheds (RESOURCE_EXHAUSTED), no worker is UNAVAILABLE. */
function toConnectError(error: unknown): unknown {
  if (error instanceof QueueFullError) return new ConnectError(error.message, Code.ResourceExhausted);
  if (error instanceof NoWorkersError || error instanceof RouterClosedError) {
    return new ConnectError(error.message, Code.Unavailable);
  }
  return error;
}

export function routerServiceImpl(deps: RouterServiceDeps): ServiceImpl<typeof RouterService> {
  const { router, metrics } = deps;
  const candidates = (model: string): RoutableWorker[] => {
    const workers = deps.workers.workersFor(model);
    if (workers.length === 0) {
      throw new ConnectError(
        model ? `no worker is serving '${model}'` : "no worker is registered",
        Code.Unavailable,
      );
    }
    return workers;
  };
  const observe = (
    overlapBlocks: number,
    promptTokens: number,
    blockSize: number,
    t: { hashMs: number; findMatchesMs: number; selectMs: number },
  ) => {
    metrics.requestsTotal.inc();
    metrics.inputSequenceTokens.observe(promptTokens);
    if (promptTokens > 0) metrics.kvHitRate.observe(Math.min((overlapBlocks * blockSize) / promptTokens, 1));
    metrics.overheadBlockHashingMs.observe(t.hashMs);
    metrics.overheadIndexerFindMatchesMs.observe(t.findMatchesMs);
    metrics.overheadSchedulingMs.observe(t.selectMs);
    metrics.overheadTotalMs.observe(t.hashMs + t.findMatchesMs + t.selectMs);
  };

  return {
    async bestWorker(req, ctx) {
      if (req.updateStates && req.requestId === "") {
        throw new ConnectError("update_states needs a request_id to free it by", Code.InvalidArgument);
      }
      const workers = candidates(req.model);
      try {
        const d = await router.route(routeRequest(req, workers, deps.blockSize), workers, {
          book: req.updateStates,
          signal: ctx.signal,
        });
        observe(d.overlapBlocks, d.promptTokens, d.blockSize, d.timings);
        return { workerId: d.workerId, dpRank: d.dpRank, overlapBlocks: d.overlapBlocks };
      } catch (error) {
        throw toConnectError(error);
      }
    },

    async potentialLoads(req) {
      const workers = candidates(req.model);
      const loads = await router.potentialLoads(
        routeRequest({ ...req, requestId: "" }, workers, deps.blockSize),
        workers,
      );
      return create(PotentialLoadsResponseSchema, {
        loads: loads.map((l) => ({
          workerId: l.workerId,
          dpRank: l.dpRank,
          potentialPrefillTokens: BigInt(l.potentialPrefillTokens),
          potentialDecodeBlocks: BigInt(l.potentialDecodeBlocks),
          overlapBlocks: l.overlapBlocks,
        })),
      });
    },

    markPrefillComplete(req) {
      router.markPrefillComplete(req.requestId);
      return {};
    },

    free(req) {
      router.free(req.requestId);
      return {};
    },

    async *generate(req, ctx) {
      const inner = req.request;
      if (inner === undefined) throw new ConnectError("request is required", Code.InvalidArgument);
      let workers = candidates(inner.model);
      if (req.workerId !== undefined) {
        // Router mode "direct": the caller names the worker; it is still booked so loads stay right.
        workers = workers.filter((w) => w.workerId === req.workerId);
        if (workers.length === 0) {
          throw new ConnectError(
            `worker ${req.workerId.toString(16)} is not serving '${inner.model}'`,
            Code.Unavailable,
          );
        }
      }
      const requestId = inner.requestId || randomUUID();
      deps.inFlight.started();
      const startedAt = performance.now();
      try {
        let decision: Awaited<ReturnType<KvRouter["route"]>>;
        try {
          decision = await router.route(
            routeRequest({ ...inner, requestId }, workers, deps.blockSize),
            workers,
            { signal: ctx.signal },
          );
        } catch (error) {
          throw toConnectError(error);
        }
        observe(decision.overlapBlocks, decision.promptTokens, decision.blockSize, decision.timings);
        const worker = workers.find((w) => w.workerId === decision.workerId);
        if (worker === undefined) throw new ConnectError("the chosen worker left", Code.Unavailable);
        try {
          const client = createClient(WorkerService, worker.address, {
            interceptors: deps.interceptors ?? [],
          });
          const stream = client.generate(
            { ...inner, requestId, dpRank: decision.dpRank },
            { signal: ctx.signal, timeoutMs: 0 },
          );
          let first = true;
          let outputTokens = 0;
          let lastAt = startedAt;
          for await (const output of stream) {
            const now = performance.now();
            if (first) {
              first = false;
              router.markPrefillComplete(requestId);
              metrics.timeToFirstToken.observe((now - startedAt) / 1000);
              yield { output, workerId: decision.workerId, dpRank: decision.dpRank };
            } else {
              if (output.tokenIds.length > 0) {
                metrics.interTokenLatency.observe((now - lastAt) / 1000 / output.tokenIds.length);
              }
              yield { output };
            }
            outputTokens += output.tokenIds.length;
            if (output.tokenIds.length > 0) lastAt = now;
          }
          metrics.outputSequenceTokens.observe(outputTokens);
        } finally {
          router.free(requestId);
        }
      } finally {
        deps.inFlight.ended();
      }
    },
  };
}
