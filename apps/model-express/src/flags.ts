import {
  advertiseFlags,
  defineFlags,
  drainFlags,
  runtimeFlags,
  serverFlags,
  statusFlags,
} from "@kvasir/runtime";

export const DEFAULT_MODEL_EXPRESS_PORT = 8001;

/** Flags of `kvasir model-express`. */
export const modelExpressFlags = defineFlags({
  ...runtimeFlags.defs,
  ...serverFlags.defs,
  port: {
    type: "number",
    default: DEFAULT_MODEL_EXPRESS_PORT,
    integer: true,
    min: 0,
    max: 65535,
    help: "Port of the Connect server workers fetch from (0 picks a free one)",
  },
  "cache-dir": {
    type: "string",
    env: ["MODEL_EXPRESS_CACHE_DIRECTORY", "HF_HUB_CACHE"],
    help: "Cache directory, laid out as the Hugging Face hub cache (default: HF_HOME/hub, ~/.cache/huggingface/hub)",
  },
  source: {
    type: "string",
    env: "HF_ENDPOINT",
    default: "https://huggingface.co",
    help: "Where models come from: a directory of org/name/ model directories, a Hugging Face–compatible hub URL, or s3://bucket/prefix (AWS_* variables; HF_TOKEN for gated hub models)",
  },
  "cache-size-limit-gb": {
    type: "number",
    positive: true,
    help: "Most GiB the cache holds; past it the least recently used models not in use are evicted (default: no limit)",
  },
  "chunk-size-kb": {
    type: "number",
    default: 4096,
    integer: true,
    positive: true,
    help: "KiB per chunk: the unit workers fetch, verify (SHA-256) and resume by",
  },
  ...statusFlags.defs,
  ...advertiseFlags.defs,
  ...drainFlags.defs,
});
