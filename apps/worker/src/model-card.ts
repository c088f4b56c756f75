import type { ModelDeploymentCard, ModelType } from "@kvasir/protocol";
import type { EngineCapacity } from "./engine.js";

export type DisaggregationMode = "agg" | "prefill" | "decode";

/** What each mode serves: a prefill worker only prefills; decode and aggregated workers answer chat and completions. */
const modelTypesOf: Record<DisaggregationMode, ModelType[]> = {
  agg: ["chat", "completions"],
  prefill: ["prefill"],
  decode: ["chat", "completions"],
};

/** What a worker's model does: generate text, or embed it. */
export type ServedModelType = "chat" | "embedding";

export interface ModelCardInput {
  /** First name is the served name; the rest are aliases. */
  servedModelNames: readonly string[];
  modelPath: string;
  disaggregationMode: DisaggregationMode;
  modelType?: ServedModelType;
}

/** The Model Deployment Card a worker publishes for its model; throws when there is no served name. */
export function buildModelCard(input: ModelCardInput, capacity: EngineCapacity): ModelDeploymentCard {
  const [name, ...aliases] = input.servedModelNames;
  if (!name) throw new Error("a worker needs a served model name");
  return {
    name,
    aliases,
    tokenizerPath: input.modelPath,
    contextLength: capacity.contextLength,
    kvCacheBlockSize: capacity.blockSize,
    modelTypes: input.modelType === "embedding" ? ["embedding"] : modelTypesOf[input.disaggregationMode],
    runtimeConfig: {
      totalKvBlocks: capacity.totalKvBlocks,
      maxNumSeqs: capacity.maxNumSeqs,
      maxNumBatchedTokens: capacity.maxNumBatchedTokens,
      dataParallelSize: capacity.dataParallelSize,
    },
    ...(capacity.perfProfile ? { perfProfile: capacity.perfProfile } : {}),
  };
}
