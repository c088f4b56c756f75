import { FlagError } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import { kvRouterFlags, kvRouterSettingsFromFlags } from "./flags.js";

describe("KV router flags", () => {
  it("read with Dynamo's defaults", () => {
    expect(kvRouterSettingsFromFlags({})).toEqual({
      cost: { model: "linear", temperature: 0, overlapScoreCredit: 1, prefillLoadScale: 1 },
      useKvEvents: true,
      approxTtlMs: 120_000,
      approxMaxEntries: 2 ** 20,
      approxPruneTargetRatio: 0.8,
      queueThreshold: 16,
      queuePolicy: "fcfs",
      maxQueueSize: 1024,
      useRemoteIndexer: false,
      replicaSync: false,
      indexerBackend: "native",
    });
  });

  it("map Dynamo's flags and variables, a negative queue threshold turning queueing off", () => {
    const values = kvRouterFlags.parse(["--no-router-kv-events", "--router-queue-threshold", "-1"], {
      DYN_ROUTER_TEMPERATURE: "0.5",
      DYN_USE_REMOTE_INDEXER: "true",
      DYN_ROUTER_QUEUE_POLICY: "wspt",
    });
    const settings = kvRouterSettingsFromFlags(values);
    expect(settings).toMatchObject({ useKvEvents: false, useRemoteIndexer: true, queuePolicy: "wspt" });
    expect(settings.cost.temperature).toBe(0.5);
    expect(settings.queueThreshold).toBeUndefined();
  });

  it("check ranges and choices with FlagError", () => {
    expect(() => kvRouterSettingsFromFlags({ "router-kv-overlap-score-credit": 2 })).toThrow(FlagError);
    expect(() => kvRouterSettingsFromFlags({ "router-kv-overlap-score-credit": 2 })).toThrow(/at most 1/);
    expect(() => kvRouterSettingsFromFlags({ "router-queue-policy": "sjf" })).toThrow(/fcfs, wspt, lcfs/);
    expect(() => kvRouterSettingsFromFlags({ "router-temperature": -1 })).toThrow(/at least 0/);
    expect(() => kvRouterSettingsFromFlags({ "router-max-queue-size": 1.5 })).toThrow(/whole number/);
  });
});
