// Every kvasir command line in deploy/ parses with the CLI's own flags: Kubernetes container args (every
// overlay), compose services, the dstack service and the SkyPilot tasks.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import {
  type CommandLine,
  checkCommandLine,
  composeCommandLines,
  kubernetesCommandLines,
  shellCommandLines,
  shellCommands,
} from "./command-lines.js";
import { renderKustomization } from "./kustomize.js";

const deploy = fileURLToPath(new URL("../../../../deploy/", import.meta.url));

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function kubernetesLines(): CommandLine[] {
  const overlays = join(deploy, "k8s/overlays");
  return readdirSync(overlays).flatMap((overlay) =>
    kubernetesCommandLines(renderKustomization(join(overlays, overlay)), `k8s/overlays/${overlay}`),
  );
}

/** dstack: each replica group's commands, with the service's `env` (NAME=value entries; bare names are secrets). */
function dstackLines(): CommandLine[] {
  const file = join(deploy, "dstack/service.dstack.yml");
  const service: unknown = parse(readFileSync(file, "utf8"));
  if (!isRecord(service) || !Array.isArray(service.replicas)) throw new Error(`${file}: no replicas`);
  const env: Record<string, string> = {};
  for (const entry of Array.isArray(service.env) ? service.env.map(String) : []) {
    const eq = entry.indexOf("=");
    env[eq > 0 ? entry.slice(0, eq) : entry] = eq > 0 ? entry.slice(eq + 1) : "secret";
  }
  return service.replicas.filter(isRecord).flatMap((group, i) => {
    const commands = Array.isArray(group.commands) ? group.commands.map(String) : [];
    return shellCommandLines(commands.join("\n"), `dstack replica group ${i}`, env);
  });
}

/** SkyPilot: `setup` and `run` of each task, with its `envs`. */
function skypilotLines(): CommandLine[] {
  const dir = join(deploy, "skypilot");
  return readdirSync(dir)
    .filter((name) => name.endsWith(".sky.yaml"))
    .flatMap((name) => {
      const task: unknown = parse(readFileSync(join(dir, name), "utf8"));
      if (!isRecord(task)) throw new Error(`${name} is not a mapping`);
      const env = isRecord(task.envs)
        ? Object.fromEntries(Object.entries(task.envs).map(([k, v]) => [k, String(v)]))
        : {};
      return [task.setup, task.run]
        .filter((text): text is string => typeof text === "string")
        .flatMap((text) => shellCommandLines(text, `skypilot/${name}`, env));
    });
}

function composeLines(): CommandLine[] {
  const file = join(deploy, "compose/compose.yaml");
  return composeCommandLines(parse(readFileSync(file, "utf8"), { merge: true }), "compose/compose.yaml");
}

describe("kvasir command lines in deploy/", () => {
  const sources = {
    kubernetes: kubernetesLines(),
    dstack: dstackLines(),
    skypilot: skypilotLines(),
    compose: composeLines(),
  };

  it.each(Object.keys(sources))("every one in %s parses with the CLI's flags", (name) => {
    const lines = sources[name as keyof typeof sources];
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) expect(() => checkCommandLine(line)).not.toThrow();
  });

  it("covers every app the deployments run", () => {
    const commands = new Set(Object.values(sources).flatMap((lines) => lines.map((line) => line.command)));
    for (const app of [
      "frontend",
      "router",
      "indexer",
      "worker",
      "planner",
      "model-express",
      "snapshot-agent",
      "mocker",
      "serve",
    ])
      expect(commands, app).toContain(app);
    const backends = new Set(
      sources.kubernetes.flatMap((line) => line.args.filter((arg) => arg.startsWith("--backend="))),
    );
    expect([...backends].sort()).toEqual(["--backend=mocker", "--backend=sglang", "--backend=vllm"]);
  });

  it("fails a command line with an unknown flag, a bad value or a refused combination", () => {
    const [worker] = sources.kubernetes.filter(
      (line) => line.command === "worker" && line.args.includes("--backend=vllm"),
    );
    expect(worker).toBeDefined();
    if (!worker) return;
    expect(() => checkCommandLine({ ...worker, args: [...worker.args, "--engine-comand=x"] })).toThrow(
      /unknown flag '--engine-comand=x'/,
    );
    expect(() => checkCommandLine({ ...worker, args: [...worker.args, "--port=http"] })).toThrow(/--port/);
    expect(() =>
      checkCommandLine({ ...worker, args: [...worker.args, "--restore-from=5f3c9a1e7b2d4c60"] }),
    ).toThrow(/--snapshot-agent-url/);
    expect(() => checkCommandLine({ ...worker, command: "wroker" })).toThrow(/no command 'wroker'/);
  });

  it("reads shell text as a shell splits it", () => {
    expect(
      shellCommands(
        `export A="x y"   # a comment\nkvasir worker \\\n  --engine-command "vllm serve \\"m\\" --x '{\\"k\\":1}'" &\nsleep 1`,
      ),
    ).toEqual([
      ["export", "A=x y"],
      ["kvasir", "worker", "--engine-command", `vllm serve "m" --x '{"k":1}'`],
      ["sleep", "1"],
    ]);
    const [line] = shellCommandLines(
      "docker run --rm -e DYN_SYSTEM_PORT=9090 kvasir:latest frontend --http-port 8000",
      "t",
    );
    expect(line).toEqual({
      where: "t",
      command: "frontend",
      args: ["--http-port", "8000"],
      env: { DYN_SYSTEM_PORT: "9090" },
    });
  });
});
