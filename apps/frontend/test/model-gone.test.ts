// A model whose last worker just left (a restart, a discovery outage past its grace period) is worth a retry:
// the frontend answers 503 in OpenAI's and Anthropic's shapes, not 404; a model never served stays 404.
import { defaultModelDir } from "@kvasir/llm";
import type { ModelDeploymentCard } from "@kvasir/protocol";
import { WorkerService } from "@kvasir/protocol";
import { createClient, createDiscovery, formatInstanceId } from "@kvasir/runtime";
import { callWorker, pipeline, route, selectorRouter, WorkerPool } from "@kvasir/serving";
import { createLogger, createMetricsRegistry } from "@kvasir/telemetry";
import { describe, expect, it } from "vitest";
import { createApp } from "../src/app.js";
import { ModelRegistry } from "../src/model-registry.js";
import { loadPreprocessor, type Preprocessor } from "../src/preprocessor.js";

const MODEL = "Qwen/Qwen3-0.6B";
const card: ModelDeploymentCard = {
  name: MODEL,
  aliases: ["qwen"],
  tokenizerPath: defaultModelDir(),
  contextLength: 4096,
  kvCacheBlockSize: 16,
  modelTypes: ["chat", "completions"],
  runtimeConfig: { totalKvBlocks: 1024, maxNumSeqs: 8, maxNumBatchedTokens: 2048, dataParallelSize: 1 },
};

describe("a model whose workers just left", () => {
  it("answers 503 no_worker_available rather than 404, and 404 for a model never served", async () => {
    const pool = new WorkerPool(await createDiscovery({ backend: "memory" }), {
      namespace: "t",
      component: "backend",
    });
    const target = { pool, router: selectorRouter("round-robin", pool) };
    const app = createApp({
      models: new ModelRegistry<Preprocessor>({ pools: [pool], load: loadPreprocessor }),
      generate: pipeline(
        [route(() => target)],
        callWorker((address) => createClient(WorkerService, address)),
      ),
      metrics: createMetricsRegistry(),
      log: createLogger("frontend-test", {}, { level: "error" }),
      config: {
        requestTimeoutSeconds: 30,
        maxBodyBytes: 1024 * 1024,
        migrationLimit: 3,
        enableAnthropicApi: true,
      },
    });
    const post = (path: string, model: string) =>
      app.request(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model, max_tokens: 4, messages: [{ role: "user", content: "hi" }] }),
      });
    const id = formatInstanceId(1n);
    const keys = { mdc: `v1/mdc/t/${MODEL}/${id}`, instance: `v1/instances/t/backend/generate/${id}` };
    pool.apply({ type: "put", key: keys.mdc, value: card });
    pool.apply({
      type: "put",
      key: keys.instance,
      value: { address: "http://127.0.0.1:1", transport: "connect-h2c", metadata: {} },
    });
    pool.apply({ type: "delete", key: keys.instance });

    for (const model of [MODEL, "qwen"]) {
      const res = await post("/v1/chat/completions", model);
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({
        error: { type: "service_unavailable", code: "no_worker_available" },
      });
    }
    const anthropic = await post("/v1/messages", MODEL);
    expect(anthropic.status).toBe(503);
    expect(await anthropic.json()).toMatchObject({ type: "error", error: { type: "overloaded_error" } });
    const never = await post("/v1/chat/completions", "no/such-model");
    expect(never.status).toBe(404);
    expect(await never.json()).toMatchObject({ error: { code: "model_not_found" } });
  });
});
