import { formatInstanceId } from "@kvasir/runtime";
import {
  type FrontendMetrics,
  METRICS_CONTENT_TYPE,
  type MetricsRegistry,
  metricsText,
} from "@kvasir/telemetry";
import type { Hono } from "hono";
import { modelNotFound } from "./errors.js";
import type { ModelCatalog } from "./model-catalog.js";
import type { ServedModel } from "./model-registry.js";
import type { Preprocessor } from "./preprocessor.js";
import type { AppEnv } from "./request-scope.js";

const modelObject = (m: ServedModel<Preprocessor>) => ({
  id: m.id,
  object: "model" as const,
  created: m.created,
  owned_by: "kvasir",
  root: m.name,
  max_model_len: m.card.contextLength,
});

/** `/v1/models`, `/health`, `/live` and `/metrics`. */
export function addStatusRoutes(
  app: Hono<AppEnv>,
  models: ModelCatalog,
  registry: MetricsRegistry,
  metrics: FrontendMetrics,
  migrationLimit: number,
): void {
  app.get("/v1/models", (c) => c.json({ object: "list", data: models.list().map(modelObject) }));
  // Model ids contain slashes (Qwen/Qwen3-0.6B), so the id is the whole rest of the path.
  app.get("/v1/models/:id{.+}", (c) => {
    const id = c.req.param("id");
    const model = models.resolve(id);
    if (!model) throw modelNotFound(id);
    return c.json(modelObject(model));
  });

  // Ready (200) once some model has a worker; the instances of each served model.
  app.get("/health", (c) => {
    const served: Record<string, { instances: string[] }> = {};
    for (const m of models.list()) {
      if (m.id === m.name)
        served[m.name] = { instances: m.workers.map((w) => formatInstanceId(w.instanceId)) };
    }
    const healthy = Object.keys(served).length > 0;
    return c.json({ status: healthy ? "healthy" : "unhealthy", models: served }, healthy ? 200 : 503);
  });
  app.get("/live", (c) => c.json({ status: "live" }));

  app.get("/metrics", async (c) => {
    // The per-model gauges describe the current deployment, so they are refreshed when scraped.
    for (const m of models.list()) {
      if (m.id !== m.name) continue;
      const model = { model: m.name };
      metrics.modelWorkers.set(model, m.workers.length);
      metrics.modelContextLength.set(model, m.card.contextLength);
      metrics.modelKvCacheBlockSize.set(model, m.card.kvCacheBlockSize);
      metrics.modelTotalKvBlocks.set(model, m.card.runtimeConfig.totalKvBlocks);
      metrics.modelMaxNumSeqs.set(model, m.card.runtimeConfig.maxNumSeqs);
      metrics.modelMaxNumBatchedTokens.set(model, m.card.runtimeConfig.maxNumBatchedTokens);
      metrics.modelMigrationLimit.set(model, migrationLimit);
    }
    return c.body(await metricsText(registry), 200, { "content-type": METRICS_CONTENT_TYPE });
  });
}
