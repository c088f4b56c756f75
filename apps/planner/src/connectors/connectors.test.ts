import { ApiException } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { describeKubernetesError, parseWorkload, scaleBody, workloadName } from "./kubernetes.js";
import { localPlan, readyInstance, splitArgs } from "./local.js";
import { VirtualConnector } from "./virtual.js";

describe("virtual connector", () => {
  it("records each change with its time and remembers what it asked for", async () => {
    let now = 1000;
    const c = new VirtualConnector(() => now);
    await c.scale("decode", 2, 1);
    now = 2000;
    await c.scale("decode", 2, 2);
    await c.scale("decode", 1, 2);
    expect(c.decisions).toEqual([
      { atMs: 1000, pool: "decode", from: 1, to: 2 },
      { atMs: 2000, pool: "decode", from: 2, to: 1 },
    ]);
    expect(c.requested("decode")).toBe(1);
    expect(c.requested("prefill")).toBeUndefined();
  });
});

describe("local connector planning", () => {
  it("starts and stops only its own workers, counting the others as fixed", () => {
    expect(localPlan(3, 1, 0, 0)).toMatchObject({ start: 2, stop: 0, foreign: 1 });
    // Two of its own starting (not yet registered): nothing more to start.
    expect(localPlan(3, 1, 2, 0)).toMatchObject({ start: 0, stop: 0 });
    expect(localPlan(1, 3, 2, 2)).toMatchObject({ start: 0, stop: 2 });
    // Asked below the workers it did not start: it stops all of its own and leaves the rest.
    expect(localPlan(0, 2, 1, 1)).toMatchObject({ stop: 1, foreign: 1 });
  });

  it("learns a started worker's instance id from its ready line", () => {
    expect(
      readyInstance('{"level":"info","component":"worker","msg":"worker ready","instance_id":"00ab"}'),
    ).toBe("00ab");
    expect(readyInstance('{"msg":"draining","note":"worker ready"}')).toBeUndefined();
    expect(readyInstance("worker ready, not json")).toBeUndefined();
  });

  it("splits a pool's command line with quotes", () => {
    expect(splitArgs(`--backend mocker --model-name "my model" --x 'a b' --y=1`)).toEqual([
      "--backend",
      "mocker",
      "--model-name",
      "my model",
      "--x",
      "a b",
      "--y=1",
    ]);
  });
});

describe("kubernetes connector", () => {
  it("parses workloads and refuses others", () => {
    expect(parseWorkload("deployment/decode")).toEqual({ kind: "deployment", name: "decode" });
    expect(parseWorkload("nvidia.com/v1alpha1/dynamographdeploymentscalingadapters/d")).toMatchObject({
      kind: "custom",
      plural: "dynamographdeploymentscalingadapters",
    });
    expect(() => parseWorkload("pod/x")).toThrow(/expected deployment/);
  });

  it("writes spec.replicas and keeps the resourceVersion it read", () => {
    expect(
      scaleBody(
        { metadata: { name: "d", namespace: "n", resourceVersion: "7", uid: "u" }, status: { replicas: 1 } },
        3,
      ),
    ).toEqual({
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: { name: "d", namespace: "n", resourceVersion: "7" },
      spec: { replicas: 3 },
    });
  });

  it("names workloads as kubectl does", () => {
    expect(workloadName(parseWorkload("statefulset/agg"))).toBe("statefulset/agg");
    expect(workloadName(parseWorkload("nvidia.com/v1alpha1/dynamographdeploymentscalingadapters/d"))).toBe(
      "dynamographdeploymentscalingadapters.nvidia.com/d",
    );
  });

  it("turns client-node's errors into one line saying what to fix", () => {
    const server = "https://10.0.0.1:6443";
    const status = (code: number, message: string) =>
      new ApiException(code, "Unknown API Status Code!", JSON.stringify({ kind: "Status", message }), {});
    expect(describeKubernetesError("set x", server, status(409, "the object has been modified"))).toBe(
      "set x: conflict: the Scale changed since it was read (another writer); the next read sees the new one (the object has been modified)",
    );
    expect(
      describeKubernetesError("read x", server, new ApiException(401, "Unauthorized", undefined, {})),
    ).toBe("read x: unauthorized: the kubeconfig's credentials were refused");
    expect(describeKubernetesError("read x", server, status(500, "etcd down"))).toBe(
      "read x: the API server answered 500 (etcd down)",
    );
    const aborted = new Error("The operation was aborted.");
    aborted.name = "AbortError";
    expect(describeKubernetesError("read x", server, aborted)).toBe(
      "read x: the API server at https://10.0.0.1:6443 did not answer in time",
    );
    expect(describeKubernetesError("read x", server, new Error("connect EHOSTUNREACH"))).toBe(
      "read x: cannot reach the API server at https://10.0.0.1:6443: connect EHOSTUNREACH",
    );
  });
});
