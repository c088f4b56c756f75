import type { MockerConfig } from "@kvasir/mocker";
import type { KvExport, KvImport } from "../disagg/kv-transfer.js";
import type { Engine } from "../engine.js";
import { MockerEngine } from "./mocker.js";
import type { ModelText } from "./model-text.js";

/** Which engine runs behind the worker, with that engine's own settings (`--backend`). */
export type EngineConfig = { backend: "mocker"; mocker: Partial<MockerConfig> };

export interface EngineContext {
  /** Stamped on KV events and load metrics. */
  workerId: bigint;
  /** Disaggregated serving: how a prefill worker exports its prompts' KV and a decode worker imports it. */
  kv?: { export?: KvExport; import?: KvImport };
  /** The model's EOS ids and tokenizer (the mocker's replies end with EOS; guided decoding tokenizes). */
  text?: ModelText;
}

/** Starts the configured engine. */
export async function createEngine(config: EngineConfig, context: EngineContext): Promise<Engine> {
  switch (config.backend) {
    case "mocker":
      return new MockerEngine(
        context.text ? { ...config.mocker, eosTokenIds: [...context.text.eosTokenIds] } : config.mocker,
        context,
      );
  }
}
