// One Prometheus registry per service instance (never prom-client's global one), so apps composed in one
// process keep separate metrics.
import { AggregatorRegistry, Registry } from "prom-client";

export type MetricsRegistry = Registry;

/** Content type of the Prometheus text exposition format served on /metrics. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/**
 * A fresh registry. `defaultLabels` go on every series, the way Dynamo's metrics hierarchy adds
 * dynamo_namespace / dynamo_component (see hierarchyLabels).
 */
export function createMetricsRegistry(defaultLabels?: Record<string, string>): MetricsRegistry {
  const registry = new Registry();
  if (defaultLabels !== undefined && Object.keys(defaultLabels).length > 0)
    registry.setDefaultLabels(defaultLabels);
  return registry;
}

export function metricsText(registry: MetricsRegistry): Promise<string> {
  return registry.metrics();
}

/**
 * One exposition for several registries (embedded mode serves every app on one /metrics). Families with the
 * same name are joined; series with identical labels are summed, so instances should carry distinct default
 * labels (e.g. worker_id).
 */
export async function mergedMetricsText(registries: readonly MetricsRegistry[]): Promise<string> {
  const snapshots = await Promise.all(registries.map((r) => r.getMetricsAsJSON()));
  return AggregatorRegistry.aggregate(snapshots).metrics();
}

export interface HierarchyIdentity {
  namespace: string;
  component: string;
  /** The instance id as printed elsewhere (hex); distinguishes workers of one component. */
  workerId?: string;
}

/** Dynamo's hierarchy labels for a registry's defaults: dynamo_namespace, dynamo_component[, worker_id]. */
export function hierarchyLabels(ident: HierarchyIdentity): Record<string, string> {
  const labels: Record<string, string> = {
    dynamo_namespace: ident.namespace,
    dynamo_component: ident.component,
  };
  if (ident.workerId !== undefined) labels.worker_id = ident.workerId;
  return labels;
}
