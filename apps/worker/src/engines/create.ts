import type { MockerConfig } from "@kvasir/mocker";
import type { Logger } from "@kvasir/telemetry";
import type { KvExport, KvImport } from "../disagg/kv-transfer.js";
import type { Engine } from "../engine.js";
import { createHttpEngine, type HttpBackendConfig } from "./http-engine/create.js";
import { MockerEngine } from "./mocker.js";
import type { ModelText } from "./model-text.js";

/** Which engine runs behind the worker, with that engine's own settings (`--backend`). */
export type EngineConfig =
  | { backend: "mocker"; mocker: Partial<MockerConfig> }
  | { backend: "vllm" | "sglang"; mocker: Partial<MockerConfig>; http: HttpBackendConfig };

export interface EngineContext {
  /** Stamped on KV events and load metrics. */
  workerId: bigint;
  /** Disaggregated serving: how a prefill worker exports its prompts' KV and a decode worker imports it. */
  kv?: { export?: KvExport; import?: KvImport };
  /** The model's EOS ids and tokenizer (the mocker's replies end with EOS; guided decoding tokenizes). */
  text?: ModelText;
  /** For engines the worker runs as processes (vLLM, SGLang): their logs, role and the host peers reach. */
  log?: Logger;
  advertiseHost?: string;
  disaggregationMode?: "agg" | "prefill" | "decode";
}

/** Starts the configured engine; a vLLM or SGLang engine is ready (its /health answers) when this resolves. */
export async function createEngine(config: EngineConfig, context: EngineContext): Promise<Engine> {
  switch (config.backend) {
    case "mocker":
      return new MockerEngine(
        context.text ? { ...config.mocker, eosTokenIds: [...context.text.eosTokenIds] } : config.mocker,
        context,
      );
    case "vllm":
    case "sglang": {
      const { log, advertiseHost = "127.0.0.1", disaggregationMode = "agg" } = context;
      if (!log) throw new Error(`--backend ${config.backend} needs the worker's logger`);
      return createHttpEngine(config.backend, config.http, {
        workerId: context.workerId,
        log,
        advertiseHost,
        disaggregationMode,
      });
    }
  }
}
