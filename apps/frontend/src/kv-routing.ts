// `--router-mode kv`: the frontend embeds @kvasir/kv's KvRouter (the same core `kvasir router` serves), fed by the
// workers' KV events on the event plane (or its own decisions with --no-router-kv-events, or a standalone indexer
// with --use-remote-indexer), sharing active sequences with replicas (--router-replica-sync). With
// --use-remote-router it asks a standalone `kvasir router` instead. A full router queue answers 503.
import {
  activeSequencesSubject,
  type KvRouteRequest,
  KvRouter,
  type KvRouterSettings,
  kvEventSourceOver,
  kvRouterFlags,
  kvRouterOptionsFromSettings,
  kvRouterSettingsFromFlags,
  replicaSyncOver,
} from "@kvasir/kv";
import { createEmbeddedIndexer } from "@kvasir/native";
import {
  type Discovery,
  type EventPlane,
  type FlagSpec,
  followAddresses,
  followPrefix,
  formatInstanceId,
  kvEventsSubject,
  newInstanceId,
  parseInstanceKey,
} from "@kvasir/runtime";
import { followRemoteIndexer } from "@kvasir/serving";
import type { Logger } from "@kvasir/telemetry";
import { HttpError } from "./errors.js";
import { remoteRouter } from "./remote-router.js";
import type { RouteRequest, Router } from "./route-request.js";
import { routingError } from "./routing-errors.js";

/** The router flags `--router-mode kv` reads (Dynamo's names), plus the frontend's remote-router switch. */
export const kvRoutingFlags: FlagSpec[] = [
  ...kvRouterFlags,
  {
    name: "use-remote-router",
    type: "boolean",
    default: false,
    help: "With --router-mode kv: ask a standalone router (kvasir router) found in discovery instead of embedding one",
  },
];

export interface KvRoutingConfig {
  settings: KvRouterSettings;
  useRemoteRouter: boolean;
}

export function kvRoutingConfigFromFlags(values: Record<string, unknown>): KvRoutingConfig {
  return {
    settings: kvRouterSettingsFromFlags(values),
    useRemoteRouter: values["use-remote-router"] === true,
  };
}

export interface KvRoutingDeps {
  namespace: string;
  discovery: Discovery;
  events: EventPlane;
  log: Logger;
  /** The model's max_num_batched_tokens, from its card (the queue threshold's unit). */
  maxNumBatchedTokens(model: string): number | undefined;
  /** Worker component whose KV events and departures are followed. Default `backend`. */
  component?: string;
}

/** Batch budget assumed when a card does not give one. */
const DEFAULT_MAX_NUM_BATCHED_TOKENS = 8192;
/** Bookings older than this lost their free (a peer replica crashed mid-request) and are swept. */
const STALE_BOOKING_MS = 30 * 60 * 1000;

/** The Router for `--router-mode kv`. */
export async function createKvRouting(config: KvRoutingConfig, deps: KvRoutingDeps): Promise<Router> {
  const { namespace, discovery } = deps;
  if (config.useRemoteRouter) {
    return remoteRouter(await followAddresses(discovery, `v1/instances/${namespace}/router/`));
  }
  const { settings } = config;
  const component = deps.component ?? "backend";
  const options = kvRouterOptionsFromSettings(settings, formatInstanceId(newInstanceId()));
  const stops: (() => void)[] = [];
  if (settings.useRemoteIndexer) {
    const indexers = await followRemoteIndexer(discovery, namespace);
    stops.push(indexers.stop);
    options.remoteFindMatches = async (localHashes) => {
      if (indexers.count === 0)
        throw new HttpError(503, "No KV indexer is registered.", "no_indexer_available");
      return indexers.findMatches(localHashes);
    };
  } else if (settings.useKvEvents) {
    const embedded = createEmbeddedIndexer(settings.indexerBackend, (message, fields) =>
      deps.log.warn(message, fields),
    );
    options.indexer = embedded.indexer;
    options.computeLocalHashes = embedded.computeLocalHashes;
    options.events = kvEventSourceOver(deps.events, [kvEventsSubject(namespace, component)]);
  }
  if (settings.replicaSync)
    options.replicaSync = replicaSyncOver(deps.events, activeSequencesSubject(namespace));
  const core = new KvRouter(options);
  const sweep = setInterval(() => core.sweepStale(STALE_BOOKING_MS), 60_000);
  sweep.unref();
  stops.push(() => clearInterval(sweep));

  // A worker that leaves takes its cached blocks and booked requests with it.
  const stopWatch = await followPrefix(
    discovery,
    `v1/instances/${namespace}/${component}/generate/`,
    (event) => {
      const identity = event.type === "delete" ? parseInstanceKey(event.key) : undefined;
      if (identity) core.removeWorker(identity.instanceId);
    },
  );
  stops.push(stopWatch);
  deps.log.info("kv router ready", {
    indexer: settings.useRemoteIndexer
      ? "remote"
      : settings.useKvEvents
        ? settings.indexerBackend
        : "approximate",
    replica_sync: settings.replicaSync,
  });

  return {
    async route(request, workers) {
      const maxNumBatchedTokens = deps.maxNumBatchedTokens(request.model) ?? DEFAULT_MAX_NUM_BATCHED_TOKENS;
      try {
        const d = await core.route(
          kvRequest(request),
          workers.map((w) => ({
            workerId: w.instanceId,
            dataParallelSize: w.dataParallelSize,
            maxNumBatchedTokens,
          })),
        );
        return { instanceId: d.workerId, dpRank: d.dpRank };
      } catch (error) {
        throw routingError(error, request.model);
      }
    },
    prefillComplete: (requestId) => core.markPrefillComplete(requestId),
    free: (requestId) => core.free(requestId),
    async close() {
      core.close();
      for (const stop of stops) stop();
    },
  };
}

function kvRequest(r: RouteRequest): KvRouteRequest {
  return {
    requestId: r.requestId,
    tokenIds: r.tokenIds,
    blockSize: r.blockSize,
    priority: r.priority,
    ...(r.loraName ? { loraName: r.loraName } : {}),
    ...(r.cacheSalt ? { cacheSalt: r.cacheSalt } : {}),
  };
}
