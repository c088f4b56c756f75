// The kubernetes connector's requests, as an API server receives them from @kubernetes/client-node: read the
// scale subresource, then replace it; each body checked against the published autoscaling/v1 Scale schema. The API
// server here is a loopback HTTPS server (the test PKI's CA in a generated kubeconfig) answering the scale
// subresource; no real cluster in CI. With KUBECONFIG and KVASIR_KUBE_TEST_WORKLOAD set (see docs/planner.md) the
// last block also scales that workload on the cluster KUBECONFIG names.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { KubeConfig } from "@kubernetes/client-node";
import { createTestPki, type TestPki } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  defaultKubeConfig,
  KubernetesConnector,
  parseWorkload,
  ScaleApi,
} from "../src/connectors/kubernetes.js";

type Schema = {
  type?: string;
  format?: string;
  $ref?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema;
};
const schemas: Record<string, Schema> = JSON.parse(
  readFileSync(new URL("./fixtures/autoscaling-v1-scale.schema.json", import.meta.url), "utf8"),
);

/**
 * Errors of `value` against `schema`: types, int32 range, required fields, and (stricter than the API server,
 * which drops them) unknown fields, so a misspelt field cannot pass.
 */
function check(value: unknown, schema: Schema, path = "$"): string[] {
  const s = schema.$ref ? (schemas[schema.$ref] ?? {}) : schema;
  if (s.type === "object") {
    if (typeof value !== "object" || value === null || Array.isArray(value))
      return [`${path}: not an object`];
    const entries = Object.entries(value);
    const errors = (s.required ?? []).filter((k) => !(k in value)).map((k) => `${path}.${k}: required`);
    for (const [k, v] of entries) {
      const sub = s.properties?.[k] ?? s.additionalProperties;
      if (!sub) errors.push(`${path}.${k}: not in the schema`);
      else errors.push(...check(v, sub, `${path}.${k}`));
    }
    return errors;
  }
  if (s.type === "integer") {
    if (!Number.isInteger(value)) return [`${path}: not an integer`];
    if (s.format === "int32" && (Number(value) > 2 ** 31 - 1 || Number(value) < -(2 ** 31)))
      return [`${path}: out of int32`];
    return [];
  }
  if (s.type === "string") return typeof value === "string" ? [] : [`${path}: not a string`];
  if (s.type === "array") {
    if (!Array.isArray(value)) return [`${path}: not an array`];
    return value.flatMap((v, i) => check(v, s.items ?? {}, `${path}[${i}]`));
  }
  return [];
}

interface Seen {
  authorization: string | undefined;
  clientCert: string | undefined;
  method: string;
  path: string;
  contentType: string | undefined;
  body: unknown;
}

let server: Server;
let pki: TestPki;
let url: string;
const seen: Seen[] = [];
const replicas = new Map<string, number>();
/** Names whose next PUT is answered 409, as if another writer had changed the Scale after the read. */
const conflictOnce = new Set<string>();

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(Buffer.from(chunk));
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : undefined;
}

function status(code: number, reason: string, message: string) {
  return JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason, message, code });
}

/** A kubeconfig naming the loopback server, its CA, and a user (bearer token or client certificate). */
function kubeConfig(user: { token: string } | { certFile: string; keyFile: string }): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: "loopback", server: url, caFile: pki.caPath, skipTLSVerify: false }],
    users: [{ name: "planner", ...user }],
    contexts: [{ name: "planner@loopback", cluster: "loopback", user: "planner" }],
    currentContext: "planner@loopback",
  });
  return kc;
}

beforeAll(async () => {
  pki = createTestPki();
  server = createServer(
    {
      cert: readFileSync(pki.serverCertPath),
      key: readFileSync(pki.serverKeyPath),
      ca: readFileSync(pki.caPath),
      requestCert: true,
      rejectUnauthorized: false,
    },
    async (req, res) => {
      const path = req.url ?? "";
      const body = await bodyOf(req);
      const socket = req.socket as TLSSocket;
      const peer = socket.authorized ? socket.getPeerCertificate() : undefined;
      seen.push({
        authorization: req.headers.authorization,
        clientCert: typeof peer?.subject?.CN === "string" ? peer.subject.CN : undefined,
        method: req.method ?? "",
        path,
        contentType: req.headers["content-type"],
        body,
      });
      res.setHeader("content-type", "application/json");
      const m = /^\/apis\/(.+)\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)\/scale$/.exec(path.split("?")[0] ?? "");
      if (!m || m[4] === "missing") {
        res.writeHead(404).end(status(404, "NotFound", `${m?.[3] ?? "resource"} "${m?.[4]}" not found`));
        return;
      }
      if (m[2] === "locked") {
        res.writeHead(403).end(status(403, "Forbidden", `cannot get resource "${m[3]}/scale"`));
        return;
      }
      const key = `${m[3]}/${m[4]}`;
      if (req.method === "PUT") {
        if (conflictOnce.delete(key)) {
          res.writeHead(409).end(status(409, "Conflict", "the object has been modified"));
          return;
        }
        const errors = check(body, { $ref: "Scale" });
        if (errors.length > 0) {
          res.writeHead(422).end(status(422, "Invalid", errors.join("; ")));
          return;
        }
        const spec = (body as { spec?: { replicas?: number } }).spec;
        replicas.set(key, spec?.replicas ?? 0);
      }
      const scale = {
        apiVersion: "autoscaling/v1",
        kind: "Scale",
        metadata: {
          name: m[4],
          namespace: m[2],
          resourceVersion: "42",
          uid: "0b7e",
          creationTimestamp: "2026-01-01T00:00:00Z",
        },
        spec: { replicas: replicas.get(key) ?? 1 },
        status: { replicas: replicas.get(key) ?? 1, selector: "app=worker" },
      };
      expect(check(scale, { $ref: "Scale" })).toEqual([]);
      res.writeHead(200).end(JSON.stringify(scale));
    },
  );
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  url = `https://127.0.0.1:${port}`;
});

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  pki.remove();
});

const requests = () => seen.map((s) => `${s.method} ${s.path.split("?")[0]}`);

describe("kubernetes connector requests (client-node against a loopback API server)", () => {
  it("scales a Deployment through apps/v1 .../deployments/NAME/scale with a schema-valid Scale", async () => {
    seen.length = 0;
    const c = new KubernetesConnector({
      namespace: "serving",
      workloads: { decode: parseWorkload("deployment/kvasir-decode") },
      kubeConfig: kubeConfig({ token: "planner-token" }),
    });
    await c.scale("decode", 3, 1);
    expect(requests()).toEqual([
      "GET /apis/apps/v1/namespaces/serving/deployments/kvasir-decode/scale",
      "PUT /apis/apps/v1/namespaces/serving/deployments/kvasir-decode/scale",
    ]);
    const put = seen[1];
    expect(put?.contentType).toMatch(/application\/json/);
    expect(put?.authorization).toBe("Bearer planner-token");
    expect(check(put?.body, { $ref: "Scale" })).toEqual([]);
    expect(put?.body).toMatchObject({
      apiVersion: "autoscaling/v1",
      kind: "Scale",
      metadata: { name: "kvasir-decode", namespace: "serving", resourceVersion: "42" },
      spec: { replicas: 3 },
    });
    expect(c.requested("decode")).toBe(3);
    // Already at 3: read, no write.
    seen.length = 0;
    await c.scale("decode", 3, 3);
    expect(seen.map((s) => s.method)).toEqual(["GET"]);
  });

  it("scales a StatefulSet with a client certificate from a KUBECONFIG file (the default loader)", async () => {
    seen.length = 0;
    const file = join(pki.dir, "kubeconfig");
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "loopback", cluster: { server: url, "certificate-authority": pki.caPath } }],
        users: [
          {
            name: "planner",
            user: { "client-certificate": pki.clientCertPath, "client-key": pki.clientKeyPath },
          },
        ],
        contexts: [{ name: "planner", context: { cluster: "loopback", user: "planner" } }],
        "current-context": "planner",
      }),
    );
    const before = process.env.KUBECONFIG;
    process.env.KUBECONFIG = file;
    let kc: KubeConfig;
    try {
      kc = defaultKubeConfig();
    } finally {
      if (before === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = before;
    }
    const c = new KubernetesConnector({
      namespace: "serving",
      workloads: { backend: parseWorkload("statefulset/kvasir-agg") },
      kubeConfig: kc,
    });
    await c.scale("backend", 4, 1);
    expect(requests()).toEqual([
      "GET /apis/apps/v1/namespaces/serving/statefulsets/kvasir-agg/scale",
      "PUT /apis/apps/v1/namespaces/serving/statefulsets/kvasir-agg/scale",
    ]);
    expect(seen.map((s) => s.clientCert)).toEqual(["kvasir client", "kvasir client"]);
    expect(seen[1]?.authorization).toBeUndefined();
    expect(check(seen[1]?.body, { $ref: "Scale" })).toEqual([]);
  });

  it("scales Dynamo's scaling adapter (a custom resource's scale subresource)", async () => {
    seen.length = 0;
    const c = new KubernetesConnector({
      namespace: "serving",
      workloads: {
        prefill: parseWorkload("nvidia.com/v1alpha1/dynamographdeploymentscalingadapters/llm-prefill"),
      },
      kubeConfig: kubeConfig({ token: "planner-token" }),
    });
    await c.scale("prefill", 2, 1);
    expect(requests()).toEqual([
      "GET /apis/nvidia.com/v1alpha1/namespaces/serving/dynamographdeploymentscalingadapters/llm-prefill/scale",
      "PUT /apis/nvidia.com/v1alpha1/namespaces/serving/dynamographdeploymentscalingadapters/llm-prefill/scale",
    ]);
    expect(seen[1]?.contentType).toMatch(/application\/json/);
    expect(check(seen[1]?.body, { $ref: "Scale" })).toEqual([]);
    expect(seen[1]?.body).toMatchObject({ spec: { replicas: 2 }, metadata: { resourceVersion: "42" } });
  });

  it("a 409 (the Scale changed since the read) is read again and retried once", async () => {
    seen.length = 0;
    conflictOnce.add("deployments/raced");
    const c = new KubernetesConnector({
      namespace: "serving",
      workloads: { decode: parseWorkload("deployment/raced") },
      kubeConfig: kubeConfig({ token: "planner-token" }),
    });
    await c.scale("decode", 5, 1);
    expect(seen.map((s) => s.method)).toEqual(["GET", "PUT", "GET", "PUT"]);
    expect(replicas.get("deployments/raced")).toBe(5);
  });

  it("says what is wrong: forbidden, not found, unreachable", async () => {
    const kc = kubeConfig({ token: "planner-token" });
    const forbidden = new KubernetesConnector({
      namespace: "locked",
      workloads: { decode: parseWorkload("deployment/d") },
      kubeConfig: kc,
    });
    await expect(forbidden.scale("decode", 2, 1)).rejects.toThrow(
      /read the scale of deployment\/d in namespace locked: forbidden: .*RBAC.*cannot get resource/,
    );
    const missing = new KubernetesConnector({
      namespace: "serving",
      workloads: {
        decode: parseWorkload("nvidia.com/v1alpha1/dynamographdeploymentscalingadapters/missing"),
      },
      kubeConfig: kc,
    });
    await expect(missing.scale("decode", 2, 1)).rejects.toThrow(
      /dynamographdeploymentscalingadapters.nvidia.com\/missing in namespace serving: not found/,
    );
    // A closed port: nothing listens there once the probe server is closed.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const closedPort = (probe.address() as AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const away = new KubeConfig();
    away.loadFromClusterAndUser(
      { name: "away", server: `https://127.0.0.1:${closedPort}`, skipTLSVerify: false },
      { name: "planner", token: "t" },
    );
    const unreachable = new KubernetesConnector({
      namespace: "serving",
      workloads: { decode: parseWorkload("deployment/d") },
      kubeConfig: away,
    });
    await expect(unreachable.scale("decode", 2, 1)).rejects.toThrow(
      new RegExp(`cannot reach the API server at https://127.0.0.1:${closedPort}: .*ECONNREFUSED`),
    );
  });

  it("no kubeconfig anywhere is a clear error at start, not a request to localhost:8080", () => {
    const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
    process.env.KUBECONFIG = "";
    process.env.HOME = pki.dir; // no .kube/config there
    try {
      const make = () => new KubernetesConnector({ namespace: "serving", workloads: {} });
      // In a pod (CI on Kubernetes) the service account is found instead.
      if (existsSync("/var/run/secrets/kubernetes.io/serviceaccount/token")) expect(make).not.toThrow();
      else
        expect(make).toThrow(/found no kubeconfig: set KUBECONFIG, write ~\/.kube\/config, or run in a pod/);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it("the schema check catches a malformed Scale", () => {
    expect(check({ kind: "Scale", spec: { replica: 2 } }, { $ref: "Scale" })).toEqual([
      "$.spec.replica: not in the schema",
    ]);
    expect(check({ spec: { replicas: 2.5 }, status: {} }, { $ref: "Scale" })).toEqual([
      "$.spec.replicas: not an integer",
      "$.status.replicas: required",
    ]);
  });

  it("a pool without a workload is an error, not a silent no-op", async () => {
    const c = new KubernetesConnector({
      namespace: "serving",
      workloads: {},
      kubeConfig: kubeConfig({ token: "planner-token" }),
    });
    await expect(c.scale("backend", 2, 1)).rejects.toThrow(/no workload configured for the backend pool/);
  });
});

// Against a real cluster, by request only: it changes the named workload's replicas (to one more, then back).
const realWorkload = process.env.KVASIR_KUBE_TEST_WORKLOAD;
if (process.env.KUBECONFIG && realWorkload) {
  describe("kubernetes connector against the API server in KUBECONFIG", () => {
    it(`scales ${realWorkload} up by one and back`, async () => {
      const namespace = process.env.KVASIR_KUBE_TEST_NAMESPACE ?? "default";
      const workload = parseWorkload(realWorkload);
      const kc = defaultKubeConfig();
      const api = new ScaleApi(kc);
      const before = (await api.read(namespace, workload)).spec?.replicas ?? 0;
      const c = new KubernetesConnector({ namespace, workloads: { decode: workload }, kubeConfig: kc });
      try {
        await c.scale("decode", before + 1, before);
        expect((await api.read(namespace, workload)).spec?.replicas).toBe(before + 1);
      } finally {
        await c.scale("decode", before, before + 1);
      }
      expect((await api.read(namespace, workload)).spec?.replicas).toBe(before);
    }, 30_000);
  });
}
