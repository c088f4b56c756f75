// The kubernetes environment: a pool's replicas through the scale subresource (autoscaling/v1 Scale) of its
// workload, as Dynamo's planner scales a DynamoGraphDeploymentScalingAdapter. A workload is `deployment/NAME`,
// `statefulset/NAME`, or `GROUP/VERSION/PLURAL/NAME` for a custom resource with a scale subresource (Dynamo's
// adapter: nvidia.com/v1alpha1/dynamographdeploymentscalingadapters/NAME). The API server and its credentials
// come from a kubeconfig (@kubernetes/client-node's KubeConfig: KUBECONFIG, ~/.kube/config or the pod's service
// account, as Dynamo's planner loads them), so every kubeconfig auth method works.
import {
  ApiException,
  AppsV1Api,
  CustomObjectsApi,
  KubeConfig,
  Observable,
  type ObservableMiddleware,
  type V1Scale,
} from "@kubernetes/client-node";
import type { PoolName } from "../decide.js";
import type { Connector } from "./connector.js";

export type Workload =
  | { kind: "deployment" | "statefulset"; name: string }
  | { kind: "custom"; group: string; version: string; plural: string; name: string };

export function parseWorkload(text: string): Workload {
  const parts = text.split("/");
  const [a, b, c, d] = parts;
  if (parts.length === 2 && a && b && (a === "deployment" || a === "statefulset"))
    return { kind: a, name: b };
  if (parts.length === 4 && a && b && c && d)
    return { kind: "custom", group: a, version: b, plural: c, name: d };
  throw new RangeError(
    `workload '${text}': expected deployment/NAME, statefulset/NAME or GROUP/VERSION/PLURAL/NAME`,
  );
}

/** How a workload is named in messages: `deployment/NAME` or `PLURAL.GROUP/NAME`, as kubectl names them. */
export function workloadName(w: Workload): string {
  return w.kind === "custom" ? `${w.plural}.${w.group}/${w.name}` : `${w.kind}/${w.name}`;
}

/** The Scale the planner writes: what it read, with spec.replicas set (resourceVersion kept, so a race is a 409). */
export function scaleBody(current: V1Scale, replicas: number): V1Scale {
  return {
    apiVersion: "autoscaling/v1",
    kind: "Scale",
    metadata: {
      ...(current.metadata?.name ? { name: current.metadata.name } : {}),
      ...(current.metadata?.namespace ? { namespace: current.metadata.namespace } : {}),
      ...(current.metadata?.resourceVersion ? { resourceVersion: current.metadata.resourceVersion } : {}),
    },
    spec: { replicas },
  };
}

function statusMessage(body: unknown): string | undefined {
  // client-node hands an error answer's body over as text: a Status object as JSON, or anything else.
  if (typeof body !== "string" || body === "") return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    if (typeof parsed === "object" && parsed !== null && "message" in parsed) return String(parsed.message);
  } catch {}
  return body.slice(0, 200);
}

/**
 * One line saying what went wrong with `action` (e.g. "read the scale of deployment/x in serving") on `server`:
 * the API server's answer by status code, or that it could not be reached. client-node's own messages carry the
 * whole response's headers; these say what to fix.
 */
export function describeKubernetesError(action: string, server: string, error: unknown): string {
  if (error instanceof ApiException) {
    const detail = statusMessage(error.body);
    const why: Record<number, string> = {
      401: "unauthorized: the kubeconfig's credentials were refused",
      403: "forbidden: the planner's user or service account may not get/update this scale subresource (RBAC)",
      404: "not found: no such workload in this namespace, or its kind has no scale subresource",
      409: "conflict: the Scale changed since it was read (another writer); the next read sees the new one",
      422: "invalid: the API server refused the Scale",
    };
    const reason = why[error.code] ?? `the API server answered ${error.code}`;
    return `${action}: ${reason}${detail ? ` (${detail})` : ""}`;
  }
  const text = error instanceof Error ? error.message : String(error);
  if (error instanceof Error && error.name === "AbortError")
    return `${action}: the API server at ${server} did not answer in time`;
  return `${action}: cannot reach the API server at ${server}: ${text}`;
}

function isScale(v: unknown): v is V1Scale {
  return typeof v === "object" && v !== null && ("spec" in v || "metadata" in v || "status" in v);
}

const REQUEST_TIMEOUT_MS = 10_000;

/** Gives each request a deadline, so a hung API server delays one adjustment instead of stopping the loop. */
const deadline: ObservableMiddleware = {
  pre: (context) => {
    context.setSignal(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    return new Observable(Promise.resolve(context));
  },
  post: (context) => new Observable(Promise.resolve(context)),
};
const callOptions = { middleware: [deadline], middlewareMergeStrategy: "append" as const };

/** The two calls of the scale subresource through client-node's typed APIs. */
export class ScaleApi {
  private readonly apps: AppsV1Api;
  private readonly custom: CustomObjectsApi;
  readonly server: string;

  constructor(kubeConfig: KubeConfig) {
    this.apps = kubeConfig.makeApiClient(AppsV1Api);
    this.custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.server = kubeConfig.getCurrentCluster()?.server ?? "(no cluster in the kubeconfig)";
  }

  async read(namespace: string, w: Workload): Promise<V1Scale> {
    if (w.kind === "custom") {
      const { group, version, plural, name } = w;
      const answer: unknown = await this.custom.getNamespacedCustomObjectScale(
        { group, version, namespace, plural, name },
        callOptions,
      );
      if (!isScale(answer)) throw new Error(`the scale of ${workloadName(w)} is not a Scale`);
      return answer;
    }
    const request = { name: w.name, namespace };
    return w.kind === "deployment"
      ? this.apps.readNamespacedDeploymentScale(request, callOptions)
      : this.apps.readNamespacedStatefulSetScale(request, callOptions);
  }

  async write(namespace: string, w: Workload, body: V1Scale): Promise<V1Scale> {
    if (w.kind === "custom") {
      const { group, version, plural, name } = w;
      const answer: unknown = await this.custom.replaceNamespacedCustomObjectScale(
        { group, version, namespace, plural, name, body },
        callOptions,
      );
      if (!isScale(answer)) throw new Error(`the scale of ${workloadName(w)} is not a Scale`);
      return answer;
    }
    const request = { name: w.name, namespace, body };
    return w.kind === "deployment"
      ? this.apps.replaceNamespacedDeploymentScale(request, callOptions)
      : this.apps.replaceNamespacedStatefulSetScale(request, callOptions);
  }
}

export interface KubernetesConnectorOptions {
  /** Kubernetes namespace of the workloads. */
  namespace: string;
  workloads: Partial<Record<PoolName, Workload>>;
  /** Default: `loadFromDefault()` (KUBECONFIG, ~/.kube/config, or the pod's service account). */
  kubeConfig?: KubeConfig;
  log?: { info(message: string, fields?: Record<string, unknown>): void };
}

/**
 * The kubeconfig the planner uses when none is given: client-node's default search, as kubectl's. When it finds
 * nothing, client-node makes up http://localhost:8080 (and then refuses plain HTTP); say what is missing instead.
 */
export function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  if (
    kc.getCurrentContext() === "loaded-context" &&
    kc.getCurrentCluster()?.server === "http://localhost:8080" &&
    kc.getCurrentUser()?.name === "user"
  ) {
    throw new RangeError(
      "--environment kubernetes found no kubeconfig: set KUBECONFIG, write ~/.kube/config, or run in a pod with a service account",
    );
  }
  return kc;
}

export class KubernetesConnector implements Connector {
  readonly environment = "kubernetes";
  private readonly api: ScaleApi;
  private readonly asked = new Map<PoolName, number>();

  constructor(private readonly options: KubernetesConnectorOptions) {
    this.api = new ScaleApi(options.kubeConfig ?? defaultKubeConfig());
  }

  /**
   * Reads the Scale and replaces it with spec.replicas set. A 409 (someone wrote in between) is retried once
   * with a fresh read; a second one is reported and the next adjustment tries again. The workload's controller
   * starts and drains pods; `observed` does not matter here.
   */
  async scale(pool: PoolName, desired: number, _observed?: number): Promise<void> {
    const workload = this.options.workloads[pool];
    if (!workload) throw new Error(`no workload configured for the ${pool} pool`);
    const { namespace } = this.options;
    const where = `${workloadName(workload)} in namespace ${namespace}`;
    for (let attempt = 1; ; attempt++) {
      const current = await this.api.read(namespace, workload).catch((error: unknown) => {
        throw new Error(describeKubernetesError(`read the scale of ${where}`, this.api.server, error));
      });
      this.asked.set(pool, desired);
      if (current.spec?.replicas === desired) return;
      try {
        await this.api.write(namespace, workload, scaleBody(current, desired));
      } catch (error) {
        if (error instanceof ApiException && error.code === 409 && attempt < 2) continue;
        throw new Error(
          describeKubernetesError(`set ${where} to ${desired} replicas`, this.api.server, error),
        );
      }
      this.options.log?.info("scale written", {
        pool,
        workload: workloadName(workload),
        namespace,
        from: current.spec?.replicas,
        to: desired,
      });
      return;
    }
  }

  requested(pool: PoolName): number | undefined {
    return this.asked.get(pool);
  }

  async close(): Promise<void> {}
}
