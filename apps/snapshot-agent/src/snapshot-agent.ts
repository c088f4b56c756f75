import { SnapshotAgentService } from "@kvasir/protocol";
import { type HostDeps, type Service, startComponent } from "@kvasir/runtime";
import {
  createLogger,
  flushTracing,
  initTracing,
  metricsText,
  setLogLevel,
  traceServerInterceptor,
} from "@kvasir/telemetry";
import { SnapshotAgent } from "./agent.js";
import { CriuCheckpointer } from "./checkpointer.js";
import type { SnapshotAgentConfig } from "./config.js";
import { SnapshotMetrics } from "./metrics.js";
import { snapshotAgentServiceImpl } from "./service.js";
import { CheckpointStore } from "./store.js";

export const SNAPSHOT_AGENT_COMPONENT = "snapshot-agent";
export const SNAPSHOT_AGENT_ENDPOINT = "agent";
const ORPHAN_CHECK_MS = 2000;

export interface SnapshotAgentApp extends Service {
  readonly url: string;
  readonly statusUrl?: string;
  readonly agent: SnapshotAgent;
}

/**
 * Starts the node's snapshot agent on the component host: checks CRIU and cuda-checkpoint (a node without a
 * working CRIU still serves Get/List/Watch/Delete, and answers Checkpoint with the reason), recovers storage,
 * serves SnapshotAgentService, collects garbage on an interval, and registers itself with its node's name.
 */
export function start(config: SnapshotAgentConfig, deps?: HostDeps): Promise<SnapshotAgentApp> {
  setLogLevel(config.runtime.logLevel);
  initTracing({ serviceName: "kvasir-snapshot-agent" });
  const log = createLogger("snapshot-agent");
  return startComponent(
    {
      component: SNAPSHOT_AGENT_COMPONENT,
      runtime: config.runtime,
      log,
      flush: flushTracing,
      ...(config.advertiseHost ? { advertiseHost: config.advertiseHost } : {}),
      ...(deps ? { deps } : {}),
    },
    async (host) => {
      const metrics = new SnapshotMetrics(host.namespace);
      const checkpointer = new CriuCheckpointer({
        criuPath: config.criuPath,
        cudaCheckpointPath: config.cudaCheckpointPath,
        timeoutMs: config.operationTimeoutSeconds * 1000,
      });
      const tools = await checkpointer.check();
      if (tools.criu.ok)
        log.info("criu ready", { path: tools.criu.path, version: tools.criu.version ?? "unknown" });
      else log.warn("checkpoints cannot be made or restored on this node", { reason: tools.criu.detail });
      if (!tools.cudaCheckpoint.present)
        log.warn("cuda-checkpoint unavailable", { reason: tools.cudaCheckpoint.detail });
      const store = new CheckpointStore(config.storagePath);
      const agent = new SnapshotAgent({
        store,
        checkpointer,
        log,
        observer: metrics,
        gc: {
          ...(config.maxCheckpointAgeSeconds !== undefined
            ? { maxAgeMs: config.maxCheckpointAgeSeconds * 1000 }
            : {}),
          ...(config.maxStorageBytes !== undefined ? { maxTotalBytes: config.maxStorageBytes } : {}),
        },
      });
      await agent.init();
      const collect = async () => {
        try {
          await agent.collectGarbage();
          metrics.observeStorage(await agent.list());
        } catch (error) {
          log.error("garbage collection failed", {
            error: error instanceof Error ? error.message : String(error),
          });
        }
      };
      await collect();
      const timer = setInterval(collect, config.gcIntervalSeconds * 1000);
      timer.unref();
      host.onStop("garbage collection", () => clearInterval(timer));
      // A restored engine outlives a worker that died without stopping it; it is ended within a few seconds.
      const reaper = setInterval(() => agent.reapOrphans(), ORPHAN_CHECK_MS);
      reaper.unref();
      host.onStop("orphan reaper", () => clearInterval(reaper));

      const status = await host.serveStatus({
        host: config.host,
        port: config.systemPort,
        health: () => ({ criu: tools.criu.ok ? "ok" : tools.criu.detail }),
        metrics: async () => {
          metrics.observeStorage(await agent.list());
          return metricsText(metrics.registry);
        },
      });
      const server = await host.serveConnect({
        host: config.host,
        port: config.port,
        drainMs: config.drainTimeoutSeconds * 1000,
        interceptors: [traceServerInterceptor()],
        routes: (router) => router.service(SnapshotAgentService, snapshotAgentServiceImpl(agent)),
      });
      // Watch streams never end on their own; end them first so the server's drain does not wait them out.
      host.onStop("watch streams", () => agent.endWatches());
      await host.registerInstance(SNAPSHOT_AGENT_ENDPOINT, {
        address: server.url,
        transport: server.transport,
        metadata: { node: config.nodeName, criu: tools.criu.ok ? "ok" : "unavailable" },
      });
      log.info("snapshot agent ready", {
        url: server.url,
        storage_path: config.storagePath,
        node: config.nodeName,
        ...(status ? { status_url: status.localUrl } : {}),
      });
      return {
        url: server.url,
        ...(status ? { statusUrl: status.localUrl } : {}),
        agent,
        stop: () => host.stop(),
      };
    },
  );
}
