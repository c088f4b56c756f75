// Shared wire types stored in discovery (DESIGN §2). JSON, so every backend (memory, file, NATS KV) holds them as is.

export type ModelType = "chat" | "completions" | "prefill" | "embedding";

/** Model Deployment Card: what a frontend needs to serve a model, published by each worker under `v1/mdc/…`. */
export interface ModelDeploymentCard {
  /** Served model name, as clients send it in `model`. */
  name: string;
  /** Further names the same deployment answers to (vLLM's `--served-model-name a b`). */
  aliases: string[];
  /** A local directory holding `tokenizer.json` and `tokenizer_config.json`. */
  tokenizerPath: string;
  /** Chat template override; when absent the one in `tokenizer_config.json` applies. */
  chatTemplate?: string;
  contextLength: number;
  kvCacheBlockSize: number;
  modelTypes: ModelType[];
  runtimeConfig: {
    totalKvBlocks: number;
    maxNumSeqs: number;
    maxNumBatchedTokens: number;
    dataParallelSize: number;
  };
}

/** Value of a `v1/instances/…` discovery entry. */
export interface InstanceRecord {
  /** Base URL of the instance's Connect server, e.g. `http://127.0.0.1:41234`. */
  address: string;
  transport: "connect-h2c" | "connect-h2";
  metadata: Record<string, string>;
}
