import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { WorkerService } from "@kvasir/protocol";
import {
  createClient,
  createDiscovery,
  createEventPlane,
  formatInstanceId,
  type Service,
} from "@kvasir/runtime";
import {
  createLogger,
  createMetricsRegistry,
  hierarchyLabels,
  initTracing,
  setLogLevel,
  traceClientInterceptor,
} from "@kvasir/telemetry";
import { createApp } from "./app.js";
import type { FrontendConfig } from "./config.js";
import { InFlight } from "./inflight.js";
import { createKvRouting, kvRoutingConfigFromFlags } from "./kv-routing.js";
import { LoadTracker } from "./load-tracker.js";
import { ModelRegistry } from "./model-registry.js";
import { loadPreprocessor, type Preprocessor } from "./preprocessor.js";
import { createRouter } from "./routers.js";

export interface Frontend extends Service {
  readonly url: string;
  readonly port: number;
}

/**
 * Starts the frontend: follows models and workers in discovery and load metrics on the event plane, and serves
 * the OpenAI API over HTTP. `stop()` stops accepting, lets in-flight streams finish, then closes the planes.
 */
export async function start(config: FrontendConfig): Promise<Frontend> {
  setLogLevel(config.runtime.logLevel);
  const log = createLogger("frontend");
  initTracing({ serviceName: "kvasir-frontend" });
  const { namespace } = config.runtime;
  const discovery = await createDiscovery(config.runtime.discovery);
  const events = await createEventPlane(config.runtime.eventPlane);
  const load = new LoadTracker();
  const stopFollowing = load.follow(events, namespace);
  const models = new ModelRegistry<Preprocessor>({
    namespace,
    ...(config.modelPath ? { modelPath: config.modelPath } : {}),
    load: loadPreprocessor,
    onWorkerGone: (id) => {
      load.forget(id);
      log.info("worker left", { worker_id: formatInstanceId(id) });
    },
    onError: (error, context) => log.error("discovery watch failed", { ...context, error: String(error) }),
  });
  await models.start(discovery);
  const router =
    config.routerMode === "kv"
      ? await createKvRouting(config.kvRouting ?? kvRoutingConfigFromFlags({}), {
          namespace,
          discovery,
          events,
          log,
          maxNumBatchedTokens: (model) => models.resolve(model)?.card.runtimeConfig.maxNumBatchedTokens,
        })
      : createRouter(config.routerMode, load);
  const interceptors = [traceClientInterceptor()];
  const inFlight = new InFlight();
  const app = createApp({
    models,
    router,
    load,
    clientFor: (address) => createClient(WorkerService, address, { interceptors }),
    metrics: createMetricsRegistry(hierarchyLabels({ namespace, component: "frontend" })),
    log,
    config,
    inFlight,
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: config.httpHost, port: config.httpPort }, () => resolve(s));
    s.once("error", reject);
  });
  const port = (server.address() as AddressInfo).port;
  const host = config.httpHost === "0.0.0.0" ? "127.0.0.1" : config.httpHost;
  const url = `http://${host}:${port}`;
  log.info("frontend ready", { url, router_mode: config.routerMode, namespace });

  let stopping: Promise<void> | undefined;
  return {
    url,
    port,
    stop() {
      stopping ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        log.info("draining", { in_flight: inFlight.size });
        await inFlight.drained(config.drainTimeoutSeconds * 1000);
        if ("closeAllConnections" in server) server.closeAllConnections();
        await closed;
        stopFollowing();
        models.close();
        await router.close?.();
        await Promise.all([events.close(), discovery.close()]);
        log.info("stopped");
      })();
      return stopping;
    },
  };
}
