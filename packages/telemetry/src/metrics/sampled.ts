// Families whose values another part keeps (the component host's discovery counters), read when scraped, so an
// app serving its own registry (the frontend's HTTP /metrics) shows them with its default labels.
import { Counter, Gauge } from "prom-client";
import type { MetricsRegistry } from "./registry.js";

export interface MetricSample {
  name: string;
  type: "counter" | "gauge";
  help: string;
  value: number;
}

/** Registers one family per sample `read()` gives now; each takes its value from `read()` at every scrape. */
export function registerSamples(registry: MetricsRegistry, read: () => readonly MetricSample[]): void {
  for (const { name, type, help } of read()) {
    const current = () => read().find((sample) => sample.name === name)?.value ?? 0;
    if (type === "counter") {
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(current());
        },
      });
    } else {
      new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
          this.set(current());
        },
      });
    }
  }
}
