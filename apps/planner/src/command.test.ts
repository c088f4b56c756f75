import { parseFlags } from "@kvasir/runtime";
import { describe, expect, it } from "vitest";
import { plannerCommand, plannerConfigFromFlags } from "./command.js";

const config = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
  plannerConfigFromFlags(parseFlags(plannerCommand.flags, argv, env, plannerCommand.refused));

describe("kvasir planner flags", () => {
  it("takes Dynamo's names and defaults: throughput, virtual, disagg, 180 s", () => {
    const c = config([]);
    expect(c).toMatchObject({ environment: "virtual", noOperation: false });
    expect(c.core).toMatchObject({ mode: "throughput", topology: "disagg", intervalS: 180, gpuBudget: -1 });
    expect(c.core.limits.decode).toEqual({ min: 1, max: Number.POSITIVE_INFINITY, gpusPerEngine: 1 });
  });

  it("reads Dynamo's environment variables and the --prometheus-endpoint alias", () => {
    const c = config(["--prometheus-endpoint", "http://prom:9090"], {
      PLANNER_ADJUSTMENT_INTERVAL: "30",
      PLANNER_MAX_GPU_BUDGET: "8",
      PLANNER_MODE: "agg",
    });
    expect(c.prometheusEndpoint).toBe("http://prom:9090");
    expect(c.core).toMatchObject({ intervalS: 30, gpuBudget: 8, topology: "agg" });
    expect(config([], { PROMETHEUS_ENDPOINT: "http://p" }).prometheusEndpoint).toBe("http://p");
  });

  it("builds each pool's worker command line and kubernetes workload", () => {
    const c = config([
      "--environment",
      "local",
      "--worker-command",
      "kvasir worker",
      "--decode-worker-args=--backend mocker --disaggregation-mode decode",
      "--kubernetes-decode-workload",
      "deployment/llm-decode",
    ]);
    expect(c.local?.pools.decode).toEqual({
      command: ["kvasir", "worker"],
      args: ["--backend", "mocker", "--disaggregation-mode", "decode"],
    });
    expect(c.local?.pools.prefill).toBeUndefined();
    expect(c.kubernetes?.workloads.decode).toEqual({ kind: "deployment", name: "llm-decode" });
  });

  it("says what is missing or wrong", () => {
    expect(() => config(["--optimization-target", "sla"])).toThrow(/needs --profile-results-dir/);
    expect(() => config(["--environment", "local"])).toThrow(/worker flags/);
    expect(() => config(["--min-endpoint", "3", "--max-endpoint", "2"])).toThrow(/below --min-endpoint/);
    expect(() => config(["--kubernetes-agg-workload", "pod/x"])).toThrow(/expected deployment/);
    expect(() => config(["--metric-reporting-prometheus-port", "9000"])).toThrow(/--system-port/);
  });
});
