// `--use-remote-router`: routing decisions come from a standalone `kvasir router` (RouterService.BestWorker with
// update_states), and the request's progress is reported back to the same router instance.
import { RouterService } from "@kvasir/protocol";
import type { FollowedAddresses } from "@kvasir/runtime";
import { createClient } from "@kvasir/runtime";
import { HttpError } from "./errors.js";
import type { Router } from "./route-request.js";
import { routingError } from "./routing-errors.js";

export function remoteRouter(routers: FollowedAddresses): Router {
  // Which router booked each request: MarkPrefillComplete and Free must reach that one.
  const bookedOn = new Map<string, string>();
  let turn = 0;
  const report = (address: string | undefined, call: "markPrefillComplete" | "free", requestId: string) => {
    if (address === undefined) return;
    // Best effort: a router that went away has dropped the booking with its state.
    createClient(RouterService, address)
      [call]({ requestId })
      .catch(() => {});
  };
  return {
    async route(request, workers) {
      const all = routers.all();
      const address = all[turn++ % Math.max(all.length, 1)];
      if (address === undefined)
        throw new HttpError(503, "No KV router is registered.", "no_router_available");
      try {
        const d = await createClient(RouterService, address).bestWorker({
          requestId: request.requestId,
          model: request.model,
          tokenIds: [...request.tokenIds],
          loraName: request.loraName ?? "",
          cacheSalt: request.cacheSalt ?? "",
          priority: request.priority,
          updateStates: true,
        });
        if (!workers.some((w) => w.instanceId === d.workerId)) {
          // A worker that already failed this request (the remote router does not know): undo the booking.
          report(address, "free", request.requestId);
          throw new HttpError(503, "The router chose a worker this request cannot use.", "worker_failed");
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
    async close() {
      routers.stop();
    },
  };
}
