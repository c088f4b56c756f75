/// <reference path="./types/parse-prometheus-text-format.d.ts" />
// Traffic without a Prometheus server: scrapes the /metrics of every frontend discovery lists (they register
// `v1/instances/{ns}/frontend/http/{id}` with a metrics_path) and differences the counters between reads.
import type { Discovery } from "@kvasir/runtime";
import parsePrometheusTextFormat from "parse-prometheus-text-format";
import type { Traffic } from "./decide.js";
import {
  addTotals,
  FRONTEND_FAMILIES,
  type FrontendTotals,
  HISTOGRAM_KEYS,
  increase,
  type TrafficSource,
  trafficOf,
  zeroTotals,
} from "./traffic.js";

/**
 * The frontend totals in one /metrics text, over the series of `namespace` (and `model` when given). The
 * parser folds a labelled histogram's samples into one label-less sample, so histogram TYPE lines are dropped
 * first: `_sum` and `_count` then parse as plain series with their labels.
 */
export function totalsFromText(text: string, namespace: string, model?: string): FrontendTotals {
  const untyped = text.replace(/^# TYPE \S+ (histogram|summary)\s*$/gm, "");
  const matches = (labels: Record<string, string> | undefined) =>
    (labels?.dynamo_namespace === undefined || labels.dynamo_namespace === namespace) &&
    (!model || labels?.model === undefined || labels.model.toLowerCase() === model.toLowerCase());
  const fields = new Map<string, (totals: FrontendTotals, value: number) => void>([
    [
      FRONTEND_FAMILIES.requestsStarted,
      (t, v) => {
        t.requests += v;
      },
    ],
  ]);
  for (const k of HISTOGRAM_KEYS) {
    fields.set(`${FRONTEND_FAMILIES[k]}_sum`, (t, v) => {
      t.sums[k] += v;
    });
    fields.set(`${FRONTEND_FAMILIES[k]}_count`, (t, v) => {
      t.counts[k] += v;
    });
  }
  const totals = zeroTotals();
  for (const family of parsePrometheusTextFormat(untyped)) {
    const add = fields.get(family.name);
    if (!add) continue;
    for (const m of family.metrics) {
      const value = Number(m.value ?? Number.NaN);
      if (matches(m.labels) && Number.isFinite(value)) add(totals, value);
    }
  }
  return totals;
}

interface FrontendRecord {
  address?: unknown;
  metadata?: { metrics_path?: unknown };
}

export interface ScrapeSourceOptions {
  discovery: Discovery;
  namespace: string;
  model?: string;
  timeoutMs?: number;
  log?: { warn(message: string, fields?: Record<string, unknown>): void };
}

export class ScrapeTrafficSource implements TrafficSource {
  /** Last totals per frontend metrics URL: each is differenced against itself, so one leaving costs nothing. */
  private readonly last = new Map<string, FrontendTotals>();

  constructor(private readonly options: ScrapeSourceOptions) {}

  /** The metrics URLs of the frontends discovery lists now. */
  async targets(): Promise<string[]> {
    const entries = await this.options.discovery.list(
      `v1/instances/${this.options.namespace}/frontend/http/`,
    );
    const urls: string[] = [];
    for (const entry of entries) {
      const record: FrontendRecord =
        typeof entry.value === "object" && entry.value !== null ? entry.value : {};
      if (typeof record.address !== "string") continue;
      const path =
        typeof record.metadata?.metrics_path === "string" ? record.metadata.metrics_path : "/metrics";
      urls.push(new URL(path, record.address).toString());
    }
    return urls;
  }

  async read(_intervalS: number): Promise<Traffic | undefined> {
    let urls: string[];
    try {
      urls = await this.targets();
    } catch (error) {
      this.options.log?.warn("discovery unreadable; holding the pools", { error: String(error) });
      return undefined;
    }
    if (urls.length === 0) return undefined;
    let delta = zeroTotals();
    let read = 0;
    let differenced = 0;
    await Promise.all(
      urls.map(async (url) => {
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(this.options.timeoutMs ?? 5000) });
          const now = totalsFromText(await res.text(), this.options.namespace, this.options.model);
          const before = this.last.get(url);
          this.last.set(url, now);
          read++;
          // A frontend seen for the first time has no interval yet; its history is not this interval's traffic.
          if (before) {
            delta = addTotals(delta, increase(before, now));
            differenced++;
          }
        } catch (error) {
          this.options.log?.warn("frontend metrics unreadable", { url, error: String(error) });
        }
      }),
    );
    for (const url of this.last.keys()) if (!urls.includes(url)) this.last.delete(url);
    return read === 0 || differenced === 0 ? undefined : trafficOf(delta);
  }
}
