// The request path every serving app assembles: shed → disaggregate (prefill leg) → migrate → retry → route →
// call the worker. The prefill leg is its own short chain (retry → route over the prefill pool → call).
import type { Routing } from "../routing.js";
import type { BusyThresholds } from "../worker-pool.js";
import { callWorker, type WorkerClient } from "./call-worker.js";
import { disaggregate } from "./disaggregate.js";
import { migrate } from "./migrate.js";
import { retry } from "./retry.js";
import { route } from "./route.js";
import { shed } from "./shed.js";
import { type Handler, pipeline, type Stage } from "./types.js";

export interface ServingPipelineOptions {
  /** Times a request moves to another worker mid-stream (Dynamo's --migration-limit). */
  migrationLimit: number;
  /** Attempts on other workers when one fails before the first token. */
  retryLimit: number;
  /** Load shedding (Dynamo's busy thresholds); none when empty. */
  busyThresholds?: BusyThresholds;
  /** Stages run before all others (an app's own metrics, for example). */
  outer?: readonly Stage[];
}

export function servingPipeline(
  routing: Routing,
  clientFor: (address: string) => WorkerClient,
  options: ServingPipelineOptions,
): Handler {
  const call = callWorker(clientFor);
  const prefill = pipeline([retry(options.retryLimit), route(routing.prefillTargetFor)], call);
  return pipeline(
    [
      ...(options.outer ?? []),
      shed(routing.targetFor, options.busyThresholds ?? {}),
      disaggregate({
        active: routing.disaggregated,
        prefillLocally: routing.prefillLocally,
        prefill,
      }),
      migrate(options.migrationLimit),
      retry(options.retryLimit),
      route(routing.targetFor),
    ],
    call,
  );
}
