// `--use-remote-router`: decisions come from standalone routers (`kvasir router`, RouterService.BestWorker with
// update_states), and the request's progress is reported back to the router instance that booked it.
import { RouterService } from "@kvasir/protocol";
import { type ClientOptions, createClient, type FollowedAddresses } from "@kvasir/runtime";
import { routingError, ServingError } from "./errors.js";
import type { WorkerRouter } from "./worker-router.js";

/** `leaseMs`: how long the standalone router keeps a booking this process fails to free (its request timeout). */
export function remoteRouter(
  routers: FollowedAddresses,
  leaseMs?: number,
  clientOptions: ClientOptions = {},
): WorkerRouter {
  // Which router booked each request: MarkPrefillComplete and Free must reach that one.
  const bookedOn = new Map<string, string>();
  let turn = 0;
  const report = (address: string | undefined, call: "markPrefillComplete" | "free", requestId: string) => {
    if (address === undefined) return;
    // Best effort: a router that went away has dropped the booking with its state.
    createClient(RouterService, address, clientOptions)
      [call]({ requestId })
      .catch(() => {});
  };
  return {
    async route(request, workers, context) {
      const signal = context?.signal;
      const all = routers.all();
      const address = all[turn++ % Math.max(all.length, 1)];
      if (address === undefined) throw new ServingError("no_worker_available", "No KV router is registered.");
      try {
        const d = await createClient(RouterService, address, clientOptions).bestWorker(
          {
            requestId: request.requestId,
            model: request.model,
            tokenIds: [...request.tokenIds],
            loraName: request.loraName ?? "",
            cacheSalt: request.cacheSalt ?? "",
            priority: request.priority,
            updateStates: true,
            excludeWorkerIds: [...(context?.excluded ?? [])],
            ...(leaseMs !== undefined ? { leaseMs } : {}),
          },
          signal ? { signal } : {},
        );
        if (!workers.some((w) => w.instanceId === d.workerId)) {
          // A worker that already failed this request (the remote router does not know): undo the booking.
          report(address, "free", request.requestId);
          throw new ServingError("worker_failed", "The router chose a worker this request cannot use.");
        }
        bookedOn.set(request.requestId, address);
        return { instanceId: d.workerId, dpRank: d.dpRank };
      } catch (error) {
        throw routingError(error, request.model);
      }
    },
    prefillComplete: (requestId) => report(bookedOn.get(requestId), "markPrefillComplete", requestId),
    free(requestId) {
      report(bookedOn.get(requestId), "free", requestId);
      bookedOn.delete(requestId);
    },
    close: () => routers.stop(),
  };
}
