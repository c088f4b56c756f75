// Traffic from a Prometheus server (Dynamo's --metric-pulling-prometheus-endpoint): PromQL over HTTP, the
// increase of each frontend family over the adjustment interval, filtered by namespace and optionally model.
import type { Traffic } from "./decide.js";
import {
  FRONTEND_FAMILIES,
  type FrontendTotals,
  HISTOGRAM_KEYS,
  type TrafficSource,
  trafficOf,
  zeroTotals,
} from "./traffic.js";

export interface PrometheusSourceOptions {
  endpoint: string;
  namespace: string;
  model?: string;
  timeoutMs?: number;
  log?: { warn(message: string, fields?: Record<string, unknown>): void };
}

interface QueryResponse {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

function isQueryResponse(v: unknown): v is QueryResponse {
  return typeof v === "object" && v !== null && "status" in v;
}

const escapeLabel = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"');

/** The label filter of every query: the namespace, and the model when one is given (the frontend lowercases it). */
export function selector(namespace: string, model?: string): string {
  const parts = [`dynamo_namespace="${escapeLabel(namespace)}"`];
  if (model) parts.push(`model=~"(?i)${escapeLabel(model.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))}"`);
  return `{${parts.join(",")}}`;
}

/** The PromQL queries of one read, keyed by what they fill in. */
export function trafficQueries(namespace: string, intervalS: number, model?: string): Record<string, string> {
  const sel = selector(namespace, model);
  const range = `[${Math.max(1, Math.round(intervalS))}s]`;
  const queries: Record<string, string> = {
    requests: `sum(increase(${FRONTEND_FAMILIES.requestsStarted}${sel}${range}))`,
  };
  for (const k of HISTOGRAM_KEYS) {
    queries[`${k}_sum`] = `sum(increase(${FRONTEND_FAMILIES[k]}_sum${sel}${range}))`;
    queries[`${k}_count`] = `sum(increase(${FRONTEND_FAMILIES[k]}_count${sel}${range}))`;
  }
  return queries;
}

export class PrometheusTrafficSource implements TrafficSource {
  constructor(private readonly options: PrometheusSourceOptions) {}

  /** One instant query; the scalar of its single series, 0 when there is none (no traffic yet). */
  async query(promql: string): Promise<number> {
    const url = new URL(
      "api/v1/query",
      this.options.endpoint.endsWith("/") ? this.options.endpoint : `${this.options.endpoint}/`,
    );
    url.searchParams.set("query", promql);
    const res = await fetch(url, { signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000) });
    const body: unknown = await res.json();
    if (!isQueryResponse(body) || body.status !== "success") {
      throw new Error(
        `prometheus query failed (${res.status}): ${isQueryResponse(body) ? body.error : "bad response"}`,
      );
    }
    const value = Number(body.data?.result[0]?.value[1] ?? 0);
    return Number.isFinite(value) ? value : 0;
  }

  async read(intervalS: number): Promise<Traffic | undefined> {
    const queries = trafficQueries(this.options.namespace, intervalS, this.options.model);
    try {
      const entries = await Promise.all(
        Object.entries(queries).map(async ([key, q]) => [key, await this.query(q)] as const),
      );
      const values = new Map(entries);
      const totals: FrontendTotals = zeroTotals();
      totals.requests = values.get("requests") ?? 0;
      for (const k of HISTOGRAM_KEYS) {
        totals.sums[k] = values.get(`${k}_sum`) ?? 0;
        totals.counts[k] = values.get(`${k}_count`) ?? 0;
      }
      return trafficOf(totals);
    } catch (error) {
      this.options.log?.warn("prometheus unreadable; holding the pools", {
        endpoint: this.options.endpoint,
        error: String(error),
      });
      return undefined;
    }
  }
}
