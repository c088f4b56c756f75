// `kvasir worker --restore-from ID`: the engine comes from a checkpoint instead of a cold start. The node's agent
// restores it into this worker's network namespace; the worker attaches to it where the checkpoint says it listens.
import { connectClientOptions } from "@kvasir/runtime";
import type { Logger } from "@kvasir/telemetry";
import type { EngineConfig } from "../engines/create.js";
import type { WorkerConfig } from "../worker.js";
import { type EngineAttachment, SnapshotAgentClient } from "./agent-client.js";

function parseJson(text: string | undefined): Record<string, unknown> | undefined {
  if (!text) return undefined;
  const value: unknown = JSON.parse(text);
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? Object.fromEntries(Object.entries(value))
    : undefined;
}

/** The engine config that attaches to a restored engine. */
function attachTo(
  engine: Extract<EngineConfig, { http: unknown }>,
  attachment: EngineAttachment,
): EngineConfig {
  const url = attachment.url;
  if (!url) throw new Error("the checkpoint records no engine URL");
  const settings = parseJson(attachment.settings) ?? {};
  const kvEventsConfig = parseJson(attachment.kv_events_config);
  const count = (key: string) => (typeof settings[key] === "number" ? settings[key] : undefined);
  const dataParallelSize = count("dataParallelSize");
  const blockSize = count("blockSize");
  const { engineCommand: _cold, ...http } = engine.http;
  return {
    ...engine,
    http: {
      ...http,
      engineUrl: url,
      ...(dataParallelSize ? { dataParallelSize } : {}),
      ...(blockSize ? { blockSize } : {}),
      ...(kvEventsConfig ? { kvEventsConfig } : {}),
    },
  };
}

/**
 * Restores the checkpoint and returns the engine config attached to it; with `--engine-command`, a failed restore
 * logs why and returns the cold start's config instead (undefined `restored`).
 */
export async function restoredEngine(
  config: WorkerConfig,
  log: Logger,
): Promise<{ engine: EngineConfig; restored?: string }> {
  const { snapshot, engine } = config;
  if (!snapshot?.restoreFrom) return { engine };
  if (engine.backend === "mocker") throw new Error("--restore-from needs --backend vllm or sglang");
  const client = new SnapshotAgentClient(snapshot.agentUrl, connectClientOptions(config.runtime.connect));
  try {
    const { attachment, checkpoint } = await client.restore(snapshot.restoreFrom);
    log.info("engine restored", { checkpoint_id: checkpoint.id, url: attachment.url ?? "" });
    return { engine: attachTo(engine, attachment), restored: checkpoint.id };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (engine.http.engineCommand === undefined)
      throw new Error(`restore of ${snapshot.restoreFrom} failed: ${reason}`);
    log.warn("restore failed; starting the engine cold", { checkpoint_id: snapshot.restoreFrom, reason });
    return { engine };
  }
}
