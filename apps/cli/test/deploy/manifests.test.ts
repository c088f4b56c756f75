// deploy/k8s: every overlay renders, every object validates against the Kubernetes schema (kubernetes-models),
// and the rendered objects hang together (probes on the status port, PDBs, selectors, Services, volumes, GPUs).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { kubernetesCommandLines } from "./command-lines.js";
import { containersOf, type K8sObject, podSpecOf, renderKustomization } from "./kustomize.js";

const k8s = fileURLToPath(new URL("../../../../deploy/k8s/", import.meta.url));
const overlays = readdirSync(join(k8s, "overlays")).sort();
const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "Job"]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

/** Validates `object` with the kubernetes-models class of its apiVersion and kind; throws the schema's message. */
async function validate(object: K8sObject): Promise<void> {
  const group = object.apiVersion.includes("/") ? object.apiVersion : `v1`;
  const mod: unknown = await import(`kubernetes-models/${group}/${object.kind}`);
  const model = isRecord(mod) ? mod[object.kind] : undefined;
  if (typeof model !== "function")
    throw new Error(`kubernetes-models has no ${object.apiVersion} ${object.kind}`);
  const instance: unknown = Reflect.construct(model, [object]);
  if (!isRecord(instance) || typeof instance.validate !== "function")
    throw new Error(`${object.kind}: no validate()`);
  instance.validate();
}

function templateLabels(object: K8sObject): Record<string, unknown> {
  const spec = isRecord(object.spec) ? object.spec : {};
  const template = isRecord(spec.template) ? spec.template : {};
  const metadata = isRecord(template.metadata) ? template.metadata : {};
  return isRecord(metadata.labels) ? metadata.labels : {};
}

function templateAnnotations(object: K8sObject): Record<string, unknown> {
  const spec = isRecord(object.spec) ? object.spec : {};
  const template = isRecord(spec.template) ? spec.template : {};
  const metadata = isRecord(template.metadata) ? template.metadata : {};
  return isRecord(metadata.annotations) ? metadata.annotations : {};
}

function matches(selector: unknown, labels: Record<string, unknown>): boolean {
  if (!isRecord(selector)) return false;
  return Object.entries(selector).every(([key, value]) => labels[key] === value);
}

function workloadSelector(object: K8sObject): unknown {
  const spec = isRecord(object.spec) ? object.spec : {};
  return isRecord(spec.selector) ? spec.selector.matchLabels : undefined;
}

const kvasirImage = (container: Record<string, unknown>) =>
  typeof container.image === "string" && /^kvasir(-[a-z-]+)?:/.test(container.image);

describe.each(overlays)("deploy/k8s/overlays/%s", (overlay) => {
  const objects = renderKustomization(join(k8s, "overlays", overlay));
  const workloads = objects.filter((object) => WORKLOADS.has(object.kind));
  const named = (kind: string) => new Set(objects.filter((o) => o.kind === kind).map((o) => o.metadata.name));

  it("renders objects that validate against the Kubernetes schema", async () => {
    expect(workloads.length).toBeGreaterThan(0);
    for (const object of objects) {
      await expect(validate(object), `${object.kind}/${object.metadata.name}`).resolves.toBeUndefined();
      expect(object.metadata.namespace ?? "kvasir", `${object.kind}/${object.metadata.name}`).toBe("kvasir");
    }
  });

  it("probes /live and /health on the status port every Kvasir app serves, and is scraped there", () => {
    for (const line of kubernetesCommandLines(objects, overlay)) {
      const object = workloads.find((w) => line.where.endsWith(`/${w.metadata.name}`));
      if (!object || object.kind === "Job") continue;
      const container = containersOf([object]).find(kvasirImage);
      const systemArg = line.args.find((arg) => arg.startsWith("--system-port="))?.split("=")[1];
      const systemPort = Number(systemArg ?? line.env.DYN_SYSTEM_PORT);
      const ports = records(container?.ports);
      expect(ports.find((port) => port.name === "system")?.containerPort, line.where).toBe(systemPort);
      for (const [probe, path] of [
        ["livenessProbe", "/live"],
        ["readinessProbe", "/health"],
      ] as const) {
        const get = isRecord(container?.[probe]) ? container[probe].httpGet : undefined;
        expect(get, `${line.where} ${probe}`).toEqual({ path, port: "system" });
      }
      const annotations = templateAnnotations(object);
      expect(annotations["prometheus.io/scrape"], line.where).toBe("true");
      expect(Number(annotations["prometheus.io/port"]), line.where).toBe(systemPort);
    }
  });

  it("gives every container requests, a memory limit and a restricted security context", () => {
    for (const object of workloads) {
      const pod = podSpecOf(object) ?? {};
      for (const container of containersOf([object])) {
        const where = `${object.kind}/${object.metadata.name} ${String(container.name)}`;
        const resources = isRecord(container.resources) ? container.resources : {};
        expect(resources.requests, where).toMatchObject({
          cpu: expect.anything(),
          memory: expect.anything(),
        });
        expect(resources.limits, where).toMatchObject({ memory: expect.anything() });
        const security = isRecord(container.securityContext) ? container.securityContext : {};
        if (security.privileged === true) continue; // the snapshot agent (CRIU), root by design
        expect(security.allowPrivilegeEscalation, where).toBe(false);
        expect(security.capabilities, where).toEqual({ drop: ["ALL"] });
        expect(pod.securityContext, where).toMatchObject({ runAsNonRoot: true });
      }
    }
  });

  it("covers every serving Deployment with a PodDisruptionBudget, and no selector picks another's pods", () => {
    const budgets = objects.filter((o) => o.kind === "PodDisruptionBudget");
    const serving = workloads.filter(
      (o) => o.kind === "Deployment" && o.metadata.name !== "planner" && containersOf([o]).some(kvasirImage),
    );
    expect(serving.length).toBeGreaterThan(0);
    for (const object of serving) {
      const labels = templateLabels(object);
      const covering = budgets.filter((pdb) =>
        matches(
          isRecord(pdb.spec) && isRecord(pdb.spec.selector) ? pdb.spec.selector.matchLabels : {},
          labels,
        ),
      );
      expect(covering.length, `PDB for ${object.metadata.name}`).toBe(1);
    }
    for (const a of workloads)
      for (const b of workloads)
        if (a !== b)
          expect(
            matches(workloadSelector(a), templateLabels(b)),
            `${a.metadata.name} selects ${b.metadata.name}`,
          ).toBe(false);
  });

  it("points every Service at pods with the ports it names", () => {
    for (const service of objects.filter((o) => o.kind === "Service")) {
      const spec = isRecord(service.spec) ? service.spec : {};
      const backing = workloads.filter((w) => matches(spec.selector, templateLabels(w)));
      expect(backing.length, `pods of Service ${service.metadata.name}`).toBeGreaterThan(0);
      const portNames = new Set(containersOf(backing).flatMap((c) => records(c.ports).map((p) => p.name)));
      for (const port of records(spec.ports))
        expect(portNames.has(port.targetPort), `${service.metadata.name} -> ${String(port.targetPort)}`).toBe(
          true,
        );
    }
  });

  it("defines every ConfigMap, claim and service account the pods use", () => {
    const configMaps = named("ConfigMap");
    const claims = named("PersistentVolumeClaim");
    const accounts = named("ServiceAccount");
    for (const object of workloads) {
      const pod = podSpecOf(object) ?? {};
      const templates = new Set(
        records(isRecord(object.spec) ? object.spec.volumeClaimTemplates : []).map((t) =>
          isRecord(t.metadata) ? t.metadata.name : undefined,
        ),
      );
      for (const volume of records(pod.volumes)) {
        if (isRecord(volume.configMap)) expect(configMaps.has(String(volume.configMap.name))).toBe(true);
        if (isRecord(volume.persistentVolumeClaim))
          expect(claims.has(String(volume.persistentVolumeClaim.claimName)), object.metadata.name).toBe(true);
      }
      for (const container of containersOf([object])) {
        for (const mount of records(container.volumeMounts)) {
          const declared =
            records(pod.volumes).some((v) => v.name === mount.name) || templates.has(mount.name);
          expect(declared, `${object.metadata.name} mounts ${String(mount.name)}`).toBe(true);
        }
      }
      if (typeof pod.serviceAccountName === "string") expect(accounts.has(pod.serviceAccountName)).toBe(true);
    }
  });

  it("gives GPU workers a GPU, shared memory, the model cache and HF_TOKEN from a Secret", () => {
    for (const object of workloads) {
      for (const container of containersOf([object]).filter((c) => /^kvasir-worker-/.test(String(c.image)))) {
        const where = object.metadata.name;
        const resources = isRecord(container.resources) ? container.resources : {};
        expect(resources.requests, where).toMatchObject({ "nvidia.com/gpu": "1" });
        expect(resources.limits, where).toMatchObject({ "nvidia.com/gpu": "1" });
        const volumes = records(podSpecOf(object)?.volumes);
        const mountOf = (path: string) =>
          records(container.volumeMounts).find((m) => m.mountPath === path)?.name;
        expect(volumes.find((v) => v.name === mountOf("/dev/shm"))?.emptyDir, where).toMatchObject({
          medium: "Memory",
        });
        expect(
          volumes.find((v) => v.name === mountOf("/models"))?.persistentVolumeClaim,
          where,
        ).toBeDefined();
        const token = records(container.env).find((e) => e.name === "HF_TOKEN");
        expect(isRecord(token?.valueFrom) && isRecord(token.valueFrom.secretKeyRef), where).toBe(true);
      }
    }
  });
});

describe("the test renderer", () => {
  it("refuses a kustomization feature it does not implement", () => {
    const fixture = fileURLToPath(new URL("./fixtures/unsupported-kustomization", import.meta.url));
    expect(() => renderKustomization(fixture)).toThrow(/'configMapGenerator' is not supported/);
  });

  it("catches an object the schema refuses", async () => {
    const [deployment] = renderKustomization(join(k8s, "base/frontend")).filter(
      (o) => o.kind === "Deployment",
    );
    expect(deployment).toBeDefined();
    if (!deployment) return;
    const broken = structuredClone(deployment);
    if (isRecord(broken.spec)) broken.spec.replicas = "two";
    await expect(validate(broken)).rejects.toThrow(/replicas must be integer/);
  });
});
