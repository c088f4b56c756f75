// Discovery connection counters of one component, rendered in Prometheus text so the host can add them to any
// app's /metrics (the runtime has no metrics library; the apps' registries are their own).
import type { DiscoveryStatusEvent } from "../discovery/types.js";

export const DISCOVERY_DISCONNECTS = "dynamo_component_discovery_disconnects_total";
export const DISCOVERY_RECONNECTS = "dynamo_component_discovery_reconnects_total";
export const DISCOVERY_REREGISTRATIONS = "dynamo_component_discovery_reregistrations_total";
export const DISCOVERY_HEARTBEAT_FAILURES = "dynamo_component_discovery_heartbeat_failures_total";
export const DISCOVERY_CONNECTED = "dynamo_component_discovery_connected";

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

  metricsText(): string {
    const family = (name: string, type: string, help: string, value: number) =>
      `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}{${this.labels}} ${value}\n`;
    return [
      family(DISCOVERY_DISCONNECTS, "counter", "Times the discovery connection was lost.", this.disconnects),
      family(DISCOVERY_RECONNECTS, "counter", "Times the discovery connection came back.", this.reconnects),
      family(
        DISCOVERY_REREGISTRATIONS,
        "counter",
        "Times this component wrote its discovery entries again (a reconnect, a lost lease).",
        this.reregistrations,
      ),
      family(
        DISCOVERY_HEARTBEAT_FAILURES,
        "counter",
        "Runs of failed discovery heartbeats (one per run, however long).",
        this.heartbeatFailures,
      ),
      family(DISCOVERY_CONNECTED, "gauge", "1 while the discovery connection is up.", this.connected ? 1 : 0),
    ].join("");
  }
}

function labelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}
