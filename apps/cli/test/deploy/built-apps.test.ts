// The shipped form of every app: built once (scripts/build-apps.mjs, esbuild) into a scratch folder, then each
// folder started with plain `node` (no tsx, no workspace). The set of them over etcd and NATS serves a chat
// completion, and Prometheus run with deploy/observability's scrape config and rules scrapes it: promtool
// accepts both, every rule evaluates, and every dashboard expression returns data.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type EtcdServer,
  freePort,
  type NatsServer,
  startEtcdServer,
  startNatsServer,
  waitFor,
} from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { APPS, type BuiltApp, buildApp } from "../../../../scripts/build-apps.mjs";
import { type RunningApp, standaloneStart, startBuilt, stopChild } from "../../../../scripts/start-apps.mjs";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
const observability = join(repo, "deploy/observability");
const MODEL = "Qwen/Qwen3-0.6B";
const scratch = mkdtempSync(join(tmpdir(), "kvasir-built-"));
const built = new Map<string, BuiltApp>();

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

beforeAll(async () => {
  // esbuild works on its own threads: the builds overlap.
  const results = await Promise.all(
    Object.keys(APPS).map((app) => buildApp(app, { outDir: join(scratch, "dist") })),
  );
  for (const result of results) built.set(result.app, result);
}, 300_000);

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function folder(app: string): string {
  const result = built.get(app);
  if (!result) throw new Error(`${app} was not built`);
  return result.dir;
}

describe.each(Object.keys(APPS))("the built %s", (app) => {
  it("holds its bundle and only the packages it cannot bundle, starts with plain node and answers", async () => {
    const dir = folder(app);
    const manifest: unknown = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    expect(manifest).toMatchObject({ type: "module", main: "main.mjs" });
    const modules = existsSync(join(dir, "node_modules")) ? readdirSync(join(dir, "node_modules")) : [];
    for (const source of ["tsx", "typescript", "@kvasir", "vitest"]) expect(modules).not.toContain(source);
    const port = await freePort();
    const { args, path } = standaloneStart(app, port, mkdtempSync(join(scratch, `${app}-`)));
    const running = await startBuilt(dir, args, { port, path });
    const answer = await fetch(`http://127.0.0.1:${port}${path}`);
    expect(answer.status).toBe(200);
    // Every app drains and exits cleanly on SIGTERM from its folder too.
    expect(await stopChild(running)).toEqual({ code: 0, signal: null });
  });
});

describe("the built apps together", () => {
  let etcd: EtcdServer | undefined;
  let nats: NatsServer | undefined;
  const running: RunningApp[] = [];
  let prometheus: { child: ChildProcess; url: string; exited: Promise<unknown> } | undefined;
  const ports = { serve: 0, http: 0, router: 0, worker: 0, planner: 0, frontend: 0, frontendHttp: 0 };

  beforeAll(async () => {
    [etcd, nats] = await Promise.all([startEtcdServer(), startNatsServer()]);
    for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
    const env = { ETCD_ENDPOINTS: etcd.url, NATS_SERVER: nats.url };
    const planes = ["--discovery-backend", "etcd", "--event-plane", "nats"];
    const start = (app: string, args: string[], port: number) =>
      startBuilt(folder(app), [...args, ...planes, "--system-port", String(port)], {
        port,
        path: "/live",
        env,
      });
    running.push(
      ...(await Promise.all([
        start("router", ["--port", "0"], ports.router),
        start("worker", ["--backend", "mocker", "--port", "0", "--speedup-ratio", "10"], ports.worker),
        start("planner", ["--environment", "virtual", "--adjustment-interval", "2"], ports.planner),
      ])),
    );
    // `kvasir serve` from the CLI's folder: the frontend with one worker of its own, routing through the router.
    const serveArgs = [
      "serve",
      "--http-port",
      String(ports.http),
      "--router-mode",
      "kv",
      "--use-remote-router",
    ];
    running.push(
      await start("kvasir", [...serveArgs, "--workers", "1", "--speedup-ratio", "10"], ports.serve),
    );
    // And the frontend's own folder beside it, over the same planes and router.
    const frontendArgs = [
      "--http-port",
      String(ports.frontendHttp),
      "--router-mode",
      "kv",
      "--use-remote-router",
    ];
    running.push(await start("frontend", frontendArgs, ports.frontend));
  }, 120_000);

  afterAll(async () => {
    if (prometheus) {
      prometheus.child.kill("SIGTERM");
      await prometheus.exited;
    }
    await Promise.all(running.map((app) => stopChild(app)));
    await Promise.all([nats?.stop(), etcd?.stop()]);
  }, 60_000);

  async function chat(content: string, port = ports.http): Promise<Record<string, unknown>> {
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ model: MODEL, messages: [{ role: "user", content }], max_tokens: 8 }),
    });
    const body: unknown = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    if (!isRecord(body)) throw new Error("not an object");
    return body;
  }

  it("serves a chat completion across the processes", async () => {
    // Both workers (serve's own and the standalone one) are listed by both frontends before traffic starts.
    for (const port of [ports.http, ports.frontendHttp])
      await waitFor(
        async () => {
          const res = await fetch(`http://127.0.0.1:${port}/health`).catch(() => undefined);
          const health: unknown = await res?.json();
          const models = isRecord(health) && isRecord(health.models) ? health.models[MODEL] : undefined;
          return isRecord(models) && Array.isArray(models.instances) && models.instances.length === 2;
        },
        { timeoutMs: 20_000, message: `two workers registered, as the frontend on ${port} sees them` },
      );
    for (const port of [ports.http, ports.frontendHttp]) {
      const body = await chat("Hello from the built apps", port);
      expect(body).toMatchObject({
        object: "chat.completion",
        model: MODEL,
        choices: [{ finish_reason: "length", message: { role: "assistant", content: expect.any(String) } }],
        usage: { completion_tokens: 8 },
      });
    }
  });

  it("is scraped by Prometheus with deploy's config; the rules evaluate and every dashboard query has data", async () => {
    const dir = join(scratch, "prometheus");
    mkdirSync(join(dir, "targets"), { recursive: true });
    cpSync(join(observability, "prometheus/alerts.yml"), join(dir, "alerts.yml"));
    // deploy's scrape config as it is, but scraping and evaluating every second so the test stays short.
    const config: unknown = parse(readFileSync(join(observability, "prometheus/prometheus.yml"), "utf8"));
    if (!isRecord(config) || !isRecord(config.global))
      throw new Error("prometheus.yml has no global section");
    config.global.scrape_interval = "1s";
    config.global.evaluation_interval = "1s";
    writeFileSync(join(dir, "prometheus.yml"), stringify(config));
    const targets = (["serve", "frontend", "router", "worker", "planner"] as const).map((name) => ({
      targets: [`127.0.0.1:${ports[name]}`],
      labels: { component: name },
    }));
    writeFileSync(join(dir, "targets/kvasir.json"), JSON.stringify(targets));
    // promtool accepts deploy's own files.
    const check = (args: string[]) =>
      execFileSync("promtool", args, { cwd: dir, encoding: "utf8", stdio: "pipe" });
    expect(check(["check", "config", join(dir, "prometheus.yml")])).toMatch(/SUCCESS/);
    expect(check(["check", "rules", join(observability, "prometheus/alerts.yml")])).toMatch(
      /SUCCESS: 6 rules found/,
    );

    const port = await freePort();
    const child = spawn(
      "prometheus",
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { stdio: "ignore" },
    );
    prometheus = {
      child,
      url: `http://127.0.0.1:${port}`,
      exited: new Promise((r) => child.once("exit", r)),
    };
    const url = prometheus.url;
    const query = async (expr: string): Promise<unknown[]> => {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body: unknown = await res.json();
      if (!isRecord(body) || body.status !== "success" || !isRecord(body.data))
        throw new Error(`${expr}: ${JSON.stringify(body)}`);
      return Array.isArray(body.data.result) ? body.data.result : [];
    };
    await waitFor(async () => (await query("up == 1").catch(() => [])).length === 5, {
      timeoutMs: 30_000,
      message: "Prometheus scraping the five status servers",
    });
    // Traffic spread over a few scrapes, so rates and histogram quantiles have two samples to work with.
    for (let i = 0; i < 6; i++) {
      await chat(`request ${i} with a shared prefix for the router's hit rate`);
      await new Promise((resolve) => setTimeout(resolve, 300));
    }

    const expressions = readdirSync(join(observability, "grafana/dashboards")).flatMap((file) => {
      const dashboard: unknown = JSON.parse(
        readFileSync(join(observability, "grafana/dashboards", file), "utf8"),
      );
      const panels =
        isRecord(dashboard) && Array.isArray(dashboard.panels) ? dashboard.panels.filter(isRecord) : [];
      return panels.flatMap((panel) =>
        (Array.isArray(panel.targets) ? panel.targets.filter(isRecord) : []).map((target) => ({
          where: `${file}: ${String(panel.title)}`,
          expr: String(target.expr).replaceAll("$__rate_interval", "30s"),
        })),
      );
    });
    expect(expressions.length).toBeGreaterThan(15);
    for (const { where, expr } of expressions)
      await waitFor(async () => (await query(expr)).length > 0, {
        timeoutMs: 20_000,
        message: `${where}: ${expr}`,
      });

    // Every alert rule loaded and evaluated without error against the live series.
    await waitFor(
      async () => {
        const body: unknown = await (await fetch(`${url}/api/v1/rules`)).json();
        const groups =
          isRecord(body) && isRecord(body.data) && Array.isArray(body.data.groups) ? body.data.groups : [];
        const rules = groups
          .filter(isRecord)
          .flatMap((g) => (Array.isArray(g.rules) ? g.rules.filter(isRecord) : []));
        return rules.length === 6 && rules.every((rule) => rule.health === "ok");
      },
      { timeoutMs: 20_000, message: "every alert rule evaluated with health ok" },
    );
    // Nothing fires on a healthy deployment.
    expect(await query('ALERTS{alertstate="firing"}')).toEqual([]);
  });
});
