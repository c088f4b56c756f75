// The Dockerfile cannot be built here (no Docker engine); this checks what can be checked without one: every
// image deploy/ names is a target of the Dockerfile, every folder it copies is one build-apps.mjs makes, and the
// health check probes the status port the manifests give every app.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { APPS } from "../../../../scripts/build-apps.mjs";
import { containersOf, renderKustomization } from "./kustomize.js";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
const dockerfile = readFileSync(join(repo, "Dockerfile"), "utf8");
const targets = new Set([...dockerfile.matchAll(/^FROM\s+\S+\s+AS\s+(\S+)/gim)].map((m) => m[1]));

/** The Dockerfile target an image name is built from: kvasir-worker-vllm ← worker-vllm, kvasir-criu ← kvasir-criu. */
function targetOf(image: string): string {
  const name = image.split(":")[0] ?? "";
  return targets.has(name) ? name : name.replace(/^kvasir-/, "");
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function kvasirImages(): string[] {
  const overlays = join(repo, "deploy/k8s/overlays");
  const fromK8s = readdirSync(overlays).flatMap((overlay) =>
    containersOf(renderKustomization(join(overlays, overlay))).map((c) => String(c.image)),
  );
  const compose: unknown = parse(readFileSync(join(repo, "deploy/compose/compose.yaml"), "utf8"), {
    merge: true,
  });
  const services = isRecord(compose) && isRecord(compose.services) ? Object.values(compose.services) : [];
  const fromCompose = services.filter(isRecord).map((s) => String(s.image));
  const dstack = readFileSync(join(repo, "deploy/dstack/service.dstack.yml"), "utf8");
  const sky = ["kvasir.sky.yaml", "kvasir-multinode.sky.yaml"].map((f) =>
    readFileSync(join(repo, "deploy/skypilot", f), "utf8"),
  );
  const fromText = [dstack, ...sky].flatMap((text) =>
    [...text.matchAll(/(?:image:\s*|docker:|docker run [^\n]*?\s)(kvasir[\w-]*:[\w$.-]+)/g)].map(
      (m) => m[1] ?? "",
    ),
  );
  return [...fromK8s, ...fromCompose, ...fromText].filter((image) => /^kvasir/.test(image));
}

describe("Dockerfile", () => {
  it("builds every image deploy/ runs", () => {
    const images = new Set(kvasirImages());
    expect([...images].map((image) => image.split(":")[0]).sort()).toEqual(
      expect.arrayContaining(["kvasir", "kvasir-criu", "kvasir-worker-sglang", "kvasir-worker-vllm"]),
    );
    for (const image of images) expect(targets, image).toContain(targetOf(image));
  });

  it("copies only folders build-apps.mjs makes, runs as a non-root user and checks /live on DYN_SYSTEM_PORT", () => {
    const copied = [...dockerfile.matchAll(/\/src\/dist\/apps\/([\w${}-]+)\//g)].map((m) => m[1] ?? "");
    expect(copied.length).toBeGreaterThan(0);
    // The `app` target copies the folder its build argument names.
    for (const app of copied) if (!app.startsWith("$")) expect(Object.keys(APPS)).toContain(app);
    expect(dockerfile).toMatch(/ARG APP=frontend/);
    expect(dockerfile).toMatch(/HEALTHCHECK[\s\S]*?\/live/);
    expect(dockerfile).toMatch(/DYN_SYSTEM_PORT=9090/);
    const planes = parse(readFileSync(join(repo, "deploy/k8s/base/planes/config.yaml"), "utf8"));
    expect(planes).toMatchObject({ data: { DYN_SYSTEM_PORT: "9090" } });
    // Each runtime stage ends as a non-root user, except the privileged snapshot agent's (CRIU needs root).
    const stages = dockerfile.split(/^FROM /m).slice(1);
    for (const stage of stages) {
      const name = /^\S+\s+AS\s+(\S+)/i.exec(stage)?.[1] ?? "";
      if (!/ENTRYPOINT/.test(stage) || name === "kvasir-criu") continue;
      expect(stage, name).toMatch(/^USER (node|1000)$/m);
    }
  });
});
