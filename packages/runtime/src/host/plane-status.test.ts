import { describe, expect, it } from "vitest";
import { DiscoveryStatus } from "../discovery/status.js";
import type { DiscoveryStatusEvent } from "../discovery/types.js";
import { PlaneStatus } from "./plane-status.js";

describe("DiscoveryStatus", () => {
  it("tells each transition once, however often the backend reports it", () => {
    const status = new DiscoveryStatus();
    const seen: DiscoveryStatusEvent["type"][] = [];
    status.on((event) => seen.push(event.type));
    status.reconnected();
    status.disconnected("a");
    status.disconnected("b");
    status.heartbeatFailed("x");
    status.heartbeatFailed("y");
    status.reconnected();
    status.reconnected();
    status.reregistered(3);
    status.heartbeatOk();
    status.heartbeatOk();
    expect(seen).toEqual([
      "disconnected",
      "heartbeat_failed",
      "reconnected",
      "reregistered",
      "heartbeat_recovered",
    ]);
    expect(status.connected).toBe(true);
  });
});

describe("PlaneStatus", () => {
  it("counts transitions and renders them as Prometheus text with the hierarchy labels", () => {
    const plane = new PlaneStatus({ namespace: "ns", component: "frontend" });
    plane.record({ type: "disconnected", reason: "gone" });
    expect(plane.metricsText()).toContain(
      'dynamo_component_discovery_connected{dynamo_namespace="ns",dynamo_component="frontend"} 0',
    );
    plane.record({ type: "reconnected" });
    plane.record({ type: "reregistered", entries: 2 });
    const text = plane.metricsText();
    expect(text).toContain("# TYPE dynamo_component_discovery_reconnects_total counter");
    expect(text).toContain(
      'dynamo_component_discovery_reconnects_total{dynamo_namespace="ns",dynamo_component="frontend"} 1',
    );
    expect(text).toContain(
      'dynamo_component_discovery_disconnects_total{dynamo_namespace="ns",dynamo_component="frontend"} 1',
    );
    expect(text).toContain(
      'dynamo_component_discovery_reregistrations_total{dynamo_namespace="ns",dynamo_component="frontend"} 1',
    );
    expect(text).toContain(
      'dynamo_component_discovery_connected{dynamo_namespace="ns",dynamo_component="frontend"} 1',
    );
  });
});
