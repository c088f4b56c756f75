// The kubernetes environment: a pool's replicas through the scale subresource (autoscaling/v1 Scale) of its
// workload, as Dynamo's planner scales a DynamoGraphDeploymentScalingAdapter. A workload is `deployment/NAME`,
// `statefulset/NAME`, or `GROUP/VERSION/PLURAL/NAME` for a custom resource with a scale subresource (Dynamo's
// adapter: nvidia.com/v1alpha1/dynamographdeploymentscalingadapters/NAME).
import { readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { V1Scale } from "@kubernetes/client-node";
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

/** The API path of a workload's scale subresource. */
export function scalePath(namespace: string, w: Workload): string {
  const ns = encodeURIComponent(namespace);
  const name = encodeURIComponent(w.name);
  if (w.kind === "custom") return `/apis/${w.group}/${w.version}/namespaces/${ns}/${w.plural}/${name}/scale`;
  return `/apis/apps/v1/namespaces/${ns}/${w.kind}s/${name}/scale`;
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

/** How the connector reaches the API server: its URL, a bearer token and a CA (the service account's in-cluster). */
export interface ApiServer {
  server: string;
  token?: string;
  ca?: string;
  insecureSkipTlsVerify?: boolean;
}

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";

/** The in-cluster API server (KUBERNETES_SERVICE_HOST/PORT and the pod's service account), if this is a pod. */
export function inClusterApiServer(env: NodeJS.ProcessEnv = process.env): ApiServer | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return undefined;
  const port = env.KUBERNETES_SERVICE_PORT ?? "443";
  return {
    server: `https://${host.includes(":") ? `[${host}]` : host}:${port}`,
    token: readFileSync(`${SERVICE_ACCOUNT}/token`, "utf8").trim(),
    ca: readFileSync(`${SERVICE_ACCOUNT}/ca.crt`, "utf8"),
  };
}

function isScale(v: unknown): v is V1Scale {
  return typeof v === "object" && v !== null && ("spec" in v || "metadata" in v || "status" in v);
}

/**
 * The two requests of the scale subresource over node:http(s). Kvasir does not go through @kubernetes/client-node's
 * HTTP stack: version 2 of it loads undici 8, which needs Node 22.19 or later; its Scale types are used as they are.
 */
export class ScaleClient {
  constructor(private readonly api: ApiServer) {}

  private call(method: "GET" | "PUT", path: string, body?: unknown): Promise<V1Scale> {
    const url = new URL(path, this.api.server);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const request = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          headers: {
            accept: "application/json",
            ...(payload ? { "content-type": "application/json" } : {}),
            ...(this.api.token ? { authorization: `Bearer ${this.api.token}` } : {}),
          },
          ...(this.api.ca ? { ca: this.api.ca } : {}),
          ...(this.api.insecureSkipTlsVerify ? { rejectUnauthorized: false } : {}),
          timeout: 10_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            const status = res.statusCode ?? 0;
            if (status < 200 || status >= 300) {
              const message =
                typeof parsed === "object" && parsed !== null && "message" in parsed
                  ? String(parsed.message)
                  : text;
              reject(new Error(`${method} ${url.pathname}: ${status} ${message}`.trim()));
            } else if (!isScale(parsed))
              reject(new Error(`${method} ${url.pathname}: the answer is not a Scale`));
            else resolve(parsed);
          });
          res.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on("error", reject);
      req.end(payload);
    });
  }

  read(namespace: string, w: Workload): Promise<V1Scale> {
    return this.call("GET", scalePath(namespace, w));
  }

  write(namespace: string, w: Workload, body: V1Scale): Promise<V1Scale> {
    return this.call("PUT", scalePath(namespace, w), body);
  }
}

export interface KubernetesConnectorOptions {
  /** Kubernetes namespace of the workloads. */
  namespace: string;
  workloads: Partial<Record<PoolName, Workload>>;
  /** Default: the in-cluster API server. */
  api?: ApiServer;
  log?: { info(message: string, fields?: Record<string, unknown>): void };
}

export class KubernetesConnector implements Connector {
  readonly environment = "kubernetes";
  private readonly client: ScaleClient;
  private readonly asked = new Map<PoolName, number>();

  constructor(private readonly options: KubernetesConnectorOptions) {
    const api = options.api ?? inClusterApiServer();
    if (!api) {
      throw new RangeError(
        "--environment kubernetes needs the in-cluster service account or --kubernetes-api-server (with --kubernetes-token-file)",
      );
    }
    this.client = new ScaleClient(api);
  }

  /** The workload's controller starts and drains pods; `observed` does not matter here. */
  async scale(pool: PoolName, desired: number, _observed?: number): Promise<void> {
    const workload = this.options.workloads[pool];
    if (!workload) throw new Error(`no workload configured for the ${pool} pool`);
    const { namespace } = this.options;
    const current = await this.client.read(namespace, workload);
    this.asked.set(pool, desired);
    if (current.spec?.replicas === desired) return;
    await this.client.write(namespace, workload, scaleBody(current, desired));
    this.options.log?.info("scale written", {
      pool,
      workload: workload.name,
      from: current.spec?.replicas,
      to: desired,
    });
  }

  requested(pool: PoolName): number | undefined {
    return this.asked.get(pool);
  }

  async close(): Promise<void> {}
}
