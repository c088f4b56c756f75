// Discovery connection counters of one component, rendered in Prometheus text so the host can add them to any
// app's /metrics (the runtime has no metrics library; the apps' registries are their own).
import type { DiscoveryStatusEvent } from "../discovery/types.js";

export const DISCOVERY_DISCONNECTS = "dynamo_component_discovery_disconnects_total";
export const DISCOVERY_RECONNECTS = "dynamo_component_discovery_reconnects_total";
export const DISCOVERY_REREGISTRATIONS = "dynamo_component_discovery_reregistrations_total";
export const DISCOVERY_HEARTBEAT_FAILURES = "dynamo_component_discovery_heartbeat_failures_total";
export const DISCOVERY_CONNECTED = "dynamo_component_discovery_connected";

export interface PlaneSample {
  name: string;
  type: "counter" | "gauge";
  help: string;
  value: number;
}

export class PlaneStatus {
  disconnects = 0;
  reconnects = 0;
  reregistrations = 0;
  heartbeatFailures = 0;
  connected = true;
  private readonly labels: string;

  constructor(identity: { namespace: string; component: string }) {
    this.labels = `dynamo_namespace="${labelValue(identity.namespace)}",dynamo_component="${labelValue(identity.component)}"`;
  }

  record(event: DiscoveryStatusEvent): void {
    switch (event.type) {
      case "disconnected":
        this.disconnects++;
        this.connected = false;
        return;
      case "reconnected":
        this.reconnects++;
        this.connected = true;
        return;
      case "reregistered":
        this.reregistrations++;
        return;
      case "heartbeat_failed":
        this.heartbeatFailures++;
        return;
      case "heartbeat_recovered":
        return;
    }
  }

  /** The families and their current values, for a metrics registry that reads them when scraped. */
  samples(): PlaneSample[] {
    return [
      {
        name: DISCOVERY_DISCONNECTS,
        type: "counter",
        help: "Times the discovery connection was lost.",
        value: this.disconnects,
      },
      {
        name: DISCOVERY_RECONNECTS,
        type: "counter",
        help: "Times the discovery connection came back.",
        value: this.reconnects,
      },
      {
        name: DISCOVERY_REREGISTRATIONS,
        type: "counter",
        help: "Times this component wrote its discovery entries again (a reconnect, a lost lease).",
        value: this.reregistrations,
      },
      {
        name: DISCOVERY_HEARTBEAT_FAILURES,
        type: "counter",
        help: "Runs of failed discovery heartbeats (one per run, however long).",
        value: this.heartbeatFailures,
      },
      {
        name: DISCOVERY_CONNECTED,
        type: "gauge",
        help: "1 while the discovery connection is up.",
        value: this.connected ? 1 : 0,
      },
    ];
  }

  /** The samples in Prometheus text, for a status server whose app registry does not carry them. */
  metricsText(): string {
    return this.samples()
      .map(
        ({ name, type, help, value }) =>
          `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}{${this.labels}} ${value}\n`,
      )
      .join("");
  }
}

function labelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
