// RouterService over Connect: KvRouter decisions (BestWorker, PotentialLoads), booking control
// (MarkPrefillComplete, Free), and Generate, which runs serving's request pipeline (route, call the worker, retry,
// migrate) and streams the worker's outputs back.
import { randomUUID } from "node:crypto";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { KvRouteDecision, KvRouteRequest, KvRouterWorker } from "@kvasir/kv";
import { create, PotentialLoadsResponseSchema, type RouterService } from "@kvasir/protocol";
import {
  fromWorkerRequest,
  type Handler,
  type KvRouterHost,
  type PoolWorker,
  servingContext,
  toConnectError,
  toWorkerResponse,
  type WorkerPool,
} from "@kvasir/serving";

export interface RouterServiceDeps {
  kv: KvRouterHost;
  pool: WorkerPool;
  /** The request pipeline Generate runs. */
  generate: Handler;
  /** --kv-cache-block-size; the workers' card otherwise. */
  blockSize?: number;
  /** Told of the decisions BestWorker makes (Generate's go through the KvRouter host's own hook). */
  onDecision?(decision: KvRouteDecision): void;
  /** The longest a booking made by BestWorker lives without a free. */
  maxLeaseMs: number;
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
  workers: readonly PoolWorker[],
  blockSize: number | undefined,
): KvRouteRequest {
  const hashes = m.localHashes ?? [];
  if (hashes.length > 0 && m.tokenIds.length > 0) {
    throw new ConnectError("give either token_ids or local_hashes, not both", Code.InvalidArgument);
  }
  const r: KvRouteRequest = { requestId: m.requestId, priority: m.priority ?? 0 };
  const size = blockSize ?? workers[0]?.blockSize;
  if (size !== undefined) r.blockSize = size;
  if (hashes.length > 0) r.localHashes = BigUint64Array.from(hashes);
  else r.tokenIds = m.tokenIds;
  if (m.loraName) r.loraName = m.loraName;
  if (m.cacheSalt) r.cacheSalt = m.cacheSalt;
  return r;
}

const kvWorker = (w: PoolWorker): KvRouterWorker => ({
  workerId: w.instanceId,
  dataParallelSize: w.dataParallelSize,
  maxNumBatchedTokens: w.maxNumBatchedTokens,
});

export function routerServiceImpl(deps: RouterServiceDeps): ServiceImpl<typeof RouterService> {
  const { kv, pool } = deps;
  /** The pool's workers for `model` (every model when empty), less those the caller says failed the request. */
  const candidates = (model: string, excluded: readonly bigint[] = []): PoolWorker[] => {
    const workers = pool
      .workers(model === "" ? undefined : model)
      .filter((w) => !excluded.includes(w.instanceId));
    if (workers.length === 0) {
      throw new ConnectError(
        model ? `no worker is serving '${model}'` : "no worker is registered",
        Code.Unavailable,
      );
    }
    return workers;
  };

  return {
    async bestWorker(req, ctx) {
      if (req.updateStates && req.requestId === "") {
        throw new ConnectError("update_states needs a request_id to free it by", Code.InvalidArgument);
      }
      const workers = candidates(req.model, req.excludeWorkerIds);
      try {
        const d = await kv.core.route(routeRequest(req, workers, deps.blockSize), workers.map(kvWorker), {
          book: req.updateStates,
          leaseMs: Math.min(req.leaseMs ?? deps.maxLeaseMs, deps.maxLeaseMs),
          signal: ctx.signal,
        });
        deps.onDecision?.(d);
        return { workerId: d.workerId, dpRank: d.dpRank, overlapBlocks: d.overlapBlocks };
      } catch (error) {
        throw toConnectError(error);
      }
    },

    async potentialLoads(req) {
      const workers = candidates(req.model);
      const loads = await kv.core.potentialLoads(
        routeRequest({ ...req, requestId: "" }, workers, deps.blockSize),
        workers.map(kvWorker),
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
      kv.prefillComplete(req.requestId);
      return {};
    },

    free(req) {
      kv.free(req.requestId);
      return {};
    },

    async *generate(req, ctx) {
      const inner = req.request;
      if (inner === undefined) throw new ConnectError("request is required", Code.InvalidArgument);
      const request = fromWorkerRequest(inner, inner.requestId || randomUUID());
      if (req.workerId !== undefined) request.backendInstanceId = req.workerId;
      deps.inFlight.started();
      try {
        let first = true;
        const context = servingContext(ctx.signal);
        for (const id of req.excludeWorkerIds) context.failed.add(id);
        for await (const output of deps.generate(request, context)) {
          const response = { output: toWorkerResponse(output) };
          if (first) {
            first = false;
            yield { ...response, workerId: output.worker.instanceId, dpRank: output.worker.dpRank };
          } else yield response;
        }
      } catch (error) {
        throw toConnectError(error);
      } finally {
        deps.inFlight.ended();
      }
    },
  };
}
