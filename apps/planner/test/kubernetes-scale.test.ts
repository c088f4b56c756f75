// The kubernetes connector's requests, as an API server receives them: read the scale subresource, then replace
// it; each body checked against the published autoscaling/v1 Scale schema. The API server here is a loopback
// HTTP server answering the scale subresource (no real cluster in CI; see docs/planner.md for running against one).
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubernetesConnector, parseWorkload } from "../src/connectors/kubernetes.js";

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
  method: string;
  path: string;
  contentType: string | undefined;
  body: unknown;
}

let server: Server;
let api: { server: string; token: string };
const seen: Seen[] = [];
const replicas = new Map<string, number>();

async function bodyOf(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(Buffer.from(chunk));
  const text = Buffer.concat(chunks).toString();
  return text ? JSON.parse(text) : undefined;
}

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const path = req.url ?? "";
    const body = await bodyOf(req);
    seen.push({
      authorization: req.headers.authorization,
      method: req.method ?? "",
      path,
      contentType: req.headers["content-type"],
      body,
    });
    const m = /^\/apis\/(.+)\/namespaces\/([^/]+)\/([^/]+)\/([^/]+)\/scale$/.exec(path.split("?")[0] ?? "");
    if (!m) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", code: 404 }));
      return;
    }
    const key = `${m[3]}/${m[4]}`;
    if (req.method === "PUT") {
      const errors = check(body, { $ref: "Scale" });
      if (errors.length > 0) {
        res.writeHead(422, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            message: errors.join("; "),
            code: 422,
          }),
        );
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
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(scale));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  api = { server: `http://127.0.0.1:${port}`, token: "planner-token" };
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("kubernetes connector requests", () => {
  it("scales a Deployment through apps/v1 .../deployments/NAME/scale with a schema-valid Scale", async () => {
    seen.length = 0;
    const c = new KubernetesConnector({
      namespace: "serving",
      workloads: { decode: parseWorkload("deployment/kvasir-decode") },
      api,
    });
    await c.scale("decode", 3, 1);
    expect(seen.map((s) => `${s.method} ${s.path.split("?")[0]}`)).toEqual([
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

  it("scales Dynamo's scaling adapter (a custom resource's scale subresource)", async () => {
    seen.length = 0;
    const c = new KubernetesConnector({
      namespace: "serving",
      workloads: {
        prefill: parseWorkload("nvidia.com/v1alpha1/dynamographdeploymentscalingadapters/llm-prefill"),
      },
      api,
    });
    await c.scale("prefill", 2, 1);
    expect(seen.map((s) => `${s.method} ${s.path.split("?")[0]}`)).toEqual([
      "GET /apis/nvidia.com/v1alpha1/namespaces/serving/dynamographdeploymentscalingadapters/llm-prefill/scale",
      "PUT /apis/nvidia.com/v1alpha1/namespaces/serving/dynamographdeploymentscalingadapters/llm-prefill/scale",
    ]);
    expect(check(seen[1]?.body, { $ref: "Scale" })).toEqual([]);
    expect(seen[1]?.body).toMatchObject({ spec: { replicas: 2 } });
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
    const c = new KubernetesConnector({ namespace: "serving", workloads: {}, api });
    await expect(c.scale("backend", 2, 1)).rejects.toThrow(/no workload configured for the backend pool/);
  });
});
