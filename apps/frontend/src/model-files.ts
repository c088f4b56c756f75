// How a frontend gets a model's tokenizer and chat template files (issue 13) when the directory a worker's card
// names is not on this host: through model-express (`--model-express-url`, Dynamo's MODEL_EXPRESS_URL), or from
// the hub (HF_ENDPOINT, HF_TOKEN) or S3 straight into the local Hugging Face cache. Only the small files come.
import { existsSync } from "node:fs";
import {
  errorMessage,
  type FilesLog,
  fetchThroughExpress,
  HfCache,
  HubSource,
  hubCacheDir,
  hubOptionsFromEnv,
  isTokenizerFile,
  ModelFilesError,
  modelIdOf,
  parseModelRef,
  parseSnapshotPath,
  SnapshotFetcher,
  sourceForModel,
} from "@kvasir/model-files";
import { defineFlags } from "@kvasir/runtime";

export const frontendModelFilesFlags = defineFlags({
  "model-express-url": {
    type: "string",
    env: "MODEL_EXPRESS_URL",
    help: "model-express server the tokenizer and chat template files come through when a worker's model directory is not on this host (else from HF_ENDPOINT)",
    dynamo: "MODEL_EXPRESS_URL (env only)",
  },
});

export interface ModelDirOptions {
  expressUrl?: string;
  env?: Record<string, string | undefined>;
  log: FilesLog;
}

/**
 * A local directory with the model's tokenizer files for `dir`: `dir` itself when it exists here; else, for a
 * Hugging Face cache snapshot path (a worker's) or a hub id / s3:// URL (`--model-path`), the same files
 * fetched into this host's cache. Anything else is returned as is, for the loader to report.
 */
export function modelDirResolver(options: ModelDirOptions): (dir: string) => Promise<string> {
  const env = options.env ?? process.env;
  const cache = new HfCache(hubCacheDir(env));
  return async (dir) => {
    if (existsSync(dir)) return dir;
    const wanted = modelOf(dir);
    if (!wanted) return dir;
    const local = cache.snapshotDir(wanted.modelId, wanted.revision);
    if (existsSync(local)) return local;
    if (options.expressUrl) {
      try {
        const result = await fetchThroughExpress({
          url: options.expressUrl,
          modelId: wanted.modelId,
          revision: wanted.revision,
          cache,
          log: options.log,
          filter: isTokenizerFile,
        });
        return result.dir;
      } catch (error) {
        if (!(error instanceof ModelFilesError && error.code === "express_unreachable")) throw error;
        options.log.warn("cannot get tokenizer files through model-express; downloading them directly", {
          model_express_url: options.expressUrl,
          error: errorMessage(error),
        });
      }
    }
    const source = sourceForModel(wanted.modelId, new HubSource(hubOptionsFromEnv(env)), env);
    const fetcher = new SnapshotFetcher(cache, source, { log: options.log, filter: isTokenizerFile });
    return (await fetcher.ensure(wanted.modelId, wanted.revision)).dir;
  };
}

function modelOf(dir: string): { modelId: string; revision: string } | undefined {
  const snapshot = parseSnapshotPath(dir);
  if (snapshot) return snapshot;
  try {
    const ref = parseModelRef(dir, () => false);
    return ref.kind === "local" ? undefined : { modelId: modelIdOf(ref), revision: "main" };
  } catch {
    return undefined;
  }
}
