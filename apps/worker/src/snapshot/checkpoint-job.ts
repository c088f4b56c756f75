// `kvasir worker --checkpoint-after-ready`: a checkpoint job. It starts the engine, waits until it is ready, and
// asks this node's snapshot agent to checkpoint it; it never joins the deployment (no planes, no registration, no
// traffic), and exits 0 when the checkpoint is Ready, 1 otherwise.
import { connectClientOptions, newInstanceId, type Service } from "@kvasir/runtime";
import { createLogger, type Logger } from "@kvasir/telemetry";
import { createEngine, type EngineConfig } from "../engines/create.js";
import { splitCommand } from "../engines/http-engine/command-line.js";
import { HttpEngine } from "../engines/http-engine/http-engine.js";
import type { WorkerConfig } from "../worker.js";
import { isReady, SnapshotAgentClient } from "./agent-client.js";
import type { SnapshotConfig } from "./flags.js";
import { engineIdentity } from "./identity.js";

/** The engine's own version: vLLM's /version, SGLang's /get_server_info (empty when it reports none). */
async function engineVersion(engine: HttpEngine, backend: "vllm" | "sglang", log: Logger): Promise<string> {
  const path = backend === "vllm" ? "version" : "get_server_info";
  try {
    const body: unknown = await (await fetch(new URL(path, engine.url))).json();
    if (typeof body === "object" && body !== null && "version" in body && typeof body.version === "string")
      return body.version;
  } catch (error) {
    log.warn("engine version unknown; the checkpoint identity leaves it empty", {
      error: error instanceof Error ? error.message : String(error),
    });
  }
  return "";
}

/** The engine config of a checkpoint job: vLLM serves /reset_prefix_cache, which a restore needs, in dev mode. */
function checkpointedEngine(engine: EngineConfig): EngineConfig {
  if (engine.backend !== "vllm") return engine;
  return {
    ...engine,
    http: { ...engine.http, engineEnv: { VLLM_SERVER_DEV_MODE: "1", ...engine.http.engineEnv } },
  };
}

export async function runCheckpointJob(
  config: WorkerConfig,
  snapshot: SnapshotConfig,
  exit: (code: number) => void,
): Promise<Service> {
  const log = createLogger("worker", { dynamo_component: "checkpoint" });
  const { engine: engineConfig } = config;
  if (engineConfig.backend === "mocker" || engineConfig.http.engineCommand === undefined)
    throw new Error("--checkpoint-after-ready needs --backend vllm or sglang with --engine-command");
  const engine = await createEngine(checkpointedEngine(engineConfig), {
    workerId: newInstanceId(),
    log,
    advertiseHost: "127.0.0.1",
    disaggregationMode: config.disaggregationMode,
  });
  const job = (async () => {
    if (!(engine instanceof HttpEngine) || engine.pid === undefined)
      throw new Error("only an engine this worker started can be checkpointed");
    const identity = engineIdentity({
      backend: engineConfig.backend,
      argv: splitCommand(engineConfig.http.engineCommand ?? ""),
      backendVersion: await engineVersion(engine, engineConfig.backend, log),
      servedModel: config.servedModelNames[0] ?? "",
      maxModelLen: engine.capacity.contextLength,
    });
    const pid = engine.pid;
    // From here the engine's end is the dump's doing, not a failure to restart it from.
    await engine.quiesce();
    log.info("checkpointing the engine", { pid, agent: snapshot.agentUrl, model: identity.model });
    const client = new SnapshotAgentClient(snapshot.agentUrl, connectClientOptions(config.runtime.connect));
    const checkpoint = await client.checkpoint(identity, pid, engine.attachment());
    if (isReady(checkpoint))
      log.info("checkpoint ready", { checkpoint_id: checkpoint.id, bytes: Number(checkpoint.sizeBytes) });
    else log.error("checkpoint failed", { checkpoint_id: checkpoint.id, reason: checkpoint.message });
    return isReady(checkpoint) ? 0 : 1;
  })();
  void job
    .catch((error: unknown) => {
      log.error("checkpoint failed", { error: error instanceof Error ? error.message : String(error) });
      return 1;
    })
    .then(async (code) => {
      await engine.close();
      exit(code);
    });
  return { stop: () => engine.close() };
}
