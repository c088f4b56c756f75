// Every `kvasir` command line in deploy/ (Kubernetes containers, compose services, dstack and SkyPilot shell
// commands), found and checked with the CLI's own flag definitions: the same parseFlags and toConfig that
// `kvasir <command>` runs, so an unknown flag, a bad value or a refused combination fails.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { mockerCommand } from "@kvasir/engine-simulator";
import { frontendCommand } from "@kvasir/frontend";
import { indexerCommand } from "@kvasir/indexer";
import { modelExpressCommand } from "@kvasir/model-express";
import { plannerCommand, profileCommand } from "@kvasir/planner";
import { routerCommand } from "@kvasir/router";
import { parseFlags } from "@kvasir/runtime";
import { snapshotAgentCommand } from "@kvasir/snapshot-agent";
import { workerCommand } from "@kvasir/worker";
import { serveCommand } from "../../src/serve.js";
import { type K8sObject, podSpecOf } from "./kustomize.js";

/** The commands apps/cli/src/main.ts dispatches to. */
const COMMANDS = [
  serveCommand,
  workerCommand,
  frontendCommand,
  routerCommand,
  indexerCommand,
  snapshotAgentCommand,
  mockerCommand,
  modelExpressCommand,
  plannerCommand,
  profileCommand,
];

export interface CommandLine {
  /** Where it was found, for the failure message. */
  where: string;
  command: string;
  args: string[];
  /** The environment the deployment gives the process (ConfigMaps, env lists, exports). */
  env: Record<string, string>;
  /** Files the deployment mounts (ConfigMap volumes): absolute path to contents. */
  files?: Record<string, string>;
}

/** Parses and configures `line` as `kvasir` would; throws the CLI's own error when it would refuse it. */
export function checkCommandLine(line: CommandLine): void {
  const command = COMMANDS.find((candidate) => candidate.name === line.command);
  if (!command) throw new Error(`${line.where}: kvasir has no command '${line.command}'`);
  // Mounted files are written under a scratch directory and the arguments that name them point there.
  const scratch = mkdtempSync(join(tmpdir(), "kvasir-deploy-"));
  try {
    let args = line.args;
    for (const [path, contents] of Object.entries(line.files ?? {})) {
      const local = join(scratch, path);
      mkdirSync(dirname(local), { recursive: true });
      writeFileSync(local, contents);
      args = args.map((arg) => arg.replaceAll(path, local));
    }
    command.toConfig(parseFlags(command.flags, args, line.env, command.refused));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${line.where}: kvasir ${line.command} ${line.args.join(" ")}\n  ${message}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

const isKvasirImage = (image: unknown) => typeof image === "string" && /^kvasir(-[a-z-]+)?(:|$)/.test(image);

// Values the cluster would give fieldRef variables; only their shape matters to the flags.
const FIELD_VALUES: Record<string, string> = {
  "metadata.namespace": "kvasir",
  "metadata.name": "pod-0",
  "spec.nodeName": "node-0",
  "status.podIP": "10.0.0.2",
  "status.hostIP": "10.0.0.1",
};

/** `$(NAME)` references expanded as the kubelet expands them in args and env values. */
function expandK8s(text: string, env: Record<string, string>): string {
  return text.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
}

/** Every container of a kvasir image in `objects`: the command is its first argument (the image's entry point is kvasir). */
export function kubernetesCommandLines(objects: readonly K8sObject[], where: string): CommandLine[] {
  const configMaps = new Map(
    objects
      .filter((object) => object.kind === "ConfigMap")
      .map((object) => [object.metadata.name, isRecord(object.data) ? object.data : {}]),
  );
  const lines: CommandLine[] = [];
  for (const object of objects) {
    const pod = podSpecOf(object);
    const containers = Array.isArray(pod?.containers) ? pod.containers.filter(isRecord) : [];
    for (const container of containers) {
      if (!isKvasirImage(container.image)) continue;
      const env: Record<string, string> = {};
      for (const source of Array.isArray(container.envFrom) ? container.envFrom.filter(isRecord) : []) {
        const ref = isRecord(source.configMapRef) ? source.configMapRef.name : undefined;
        const data = typeof ref === "string" ? configMaps.get(ref) : undefined;
        if (typeof ref === "string" && !data)
          throw new Error(`${where}: ${object.metadata.name} reads a missing ConfigMap ${ref}`);
        for (const [key, value] of Object.entries(data ?? {})) env[key] = String(value);
      }
      for (const item of Array.isArray(container.env) ? container.env.filter(isRecord) : []) {
        const name = String(item.name);
        const from = isRecord(item.valueFrom) ? item.valueFrom : undefined;
        const field = isRecord(from?.fieldRef) ? String(from.fieldRef.fieldPath) : undefined;
        env[name] =
          typeof item.value === "string"
            ? expandK8s(item.value, env)
            : field !== undefined
              ? (FIELD_VALUES[field] ?? "x")
              : "secret";
      }
      const files: Record<string, string> = {};
      const volumes = Array.isArray(pod?.volumes) ? pod.volumes.filter(isRecord) : [];
      for (const mount of Array.isArray(container.volumeMounts)
        ? container.volumeMounts.filter(isRecord)
        : []) {
        const volume = volumes.find((candidate) => candidate.name === mount.name);
        const ref = isRecord(volume?.configMap) ? String(volume.configMap.name) : undefined;
        for (const [key, value] of Object.entries(ref ? (configMaps.get(ref) ?? {}) : {}))
          files[`${String(mount.mountPath)}/${key}`] = String(value);
      }
      const argv = (Array.isArray(container.args) ? container.args : []).map((arg) =>
        expandK8s(String(arg), env),
      );
      const [command = "", ...args] = argv;
      lines.push({ where: `${where} ${object.kind}/${object.metadata.name}`, command, args, env, files });
    }
  }
  return lines;
}

/** Every compose service of a kvasir image: its `command` list, with the service's environment. */
export function composeCommandLines(compose: unknown, where: string): CommandLine[] {
  if (!isRecord(compose) || !isRecord(compose.services)) throw new Error(`${where}: no services`);
  const lines: CommandLine[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    if (!isRecord(service) || !isKvasirImage(service.image)) continue;
    if (!Array.isArray(service.command)) throw new Error(`${where}: ${name}'s command is not a list`);
    const env = isRecord(service.environment)
      ? Object.fromEntries(Object.entries(service.environment).map(([k, v]) => [k, String(v)]))
      : {};
    const [command = "", ...args] = service.command.map(String);
    lines.push({ where: `${where} service ${name}`, command, args, env });
  }
  return lines;
}

/**
 * Shell text split into simple commands (words after quote removal, no expansion): line continuations joined,
 * `#` comments dropped, and `&&`, `||`, `;`, `&`, `|` and newlines ending a command.
 */
export function shellCommands(text: string): string[][] {
  const commands: string[][] = [];
  let words: string[] = [];
  let word = "";
  let inWord = false;
  let quote: "'" | '"' | undefined;
  const endWord = () => {
    if (inWord) words.push(word);
    word = "";
    inWord = false;
  };
  const endCommand = () => {
    endWord();
    if (words.length > 0) commands.push(words);
    words = [];
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else word += c;
    } else if (quote === '"') {
      if (c === '"') quote = undefined;
      else if (c === "\\" && '"\\$`\n'.includes(text.charAt(i + 1))) {
        const next = text.charAt(++i);
        if (next !== "\n") word += next;
      } else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === "\\") {
      const next = text.charAt(++i);
      if (next !== "\n") {
        word += next;
        inWord = true;
      }
    } else if (c === "#" && !inWord) {
      while (i + 1 < text.length && text.charAt(i + 1) !== "\n") i++;
    } else if (c === "\n" || c === ";" || c === "&" || c === "|") {
      endCommand();
    } else if (/\s/.test(c)) {
      endWord();
    } else {
      word += c;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote in shell text`);
  endCommand();
  return commands;
}

/**
 * `kvasir <command> ...` in shell text, directly or as `docker run ... kvasir[:tag] <command> ...`; `export`
 * assignments before it and `docker run -e` pairs are its environment.
 */
export function shellCommandLines(
  text: string,
  where: string,
  env: Record<string, string> = {},
): CommandLine[] {
  const lines: CommandLine[] = [];
  const exported = { ...env };
  const names = new Set(COMMANDS.map((command) => command.name));
  for (const words of shellCommands(text)) {
    if (words[0] === "export") {
      for (const pair of words.slice(1)) {
        const eq = pair.indexOf("=");
        if (eq > 0) exported[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      continue;
    }
    const at = words.findIndex(
      (candidate, i) => (candidate === "kvasir" || isKvasirImage(candidate)) && names.has(words[i + 1] ?? ""),
    );
    if (at === -1) {
      if (words.includes("kvasir"))
        throw new Error(`${where}: '${words.join(" ")}' names kvasir without a command`);
      continue;
    }
    const dockerEnv: Record<string, string> = {};
    for (let i = 0; i < at; i++) {
      if (words[i] !== "-e") continue;
      const pair = words[i + 1] ?? "";
      const eq = pair.indexOf("=");
      if (eq > 0) dockerEnv[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    lines.push({
      where,
      command: words[at + 1] ?? "",
      args: words.slice(at + 2),
      env: words[0] === "docker" ? dockerEnv : { ...exported },
    });
  }
  return lines;
}
