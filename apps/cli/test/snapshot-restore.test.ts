// Checkpoint → store → restore with real processes: `kvasir snapshot-agent`, a checkpoint job
// (`kvasir worker --backend vllm --checkpoint-after-ready`) over a simulated vLLM engine, then a worker restored
// from the checkpoint that registers, announces an empty cache and serves. CRIU and cuda-checkpoint cannot run on
// these machines; the agent runs them through --criu-path and --cuda-checkpoint-path as recording scripts that
// leave behind what the tools would (image files; on restore, the engine's command line started again).
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type Frontend, frontendCommand, start as startFrontend } from "@kvasir/frontend";
import { fromBinary, type KvEvent, KvEventBatchSchema } from "@kvasir/protocol";
import {
  createDiscovery,
  createEventPlane,
  kvEventsSubject,
  newInstanceId,
  type Planes,
  parseFlags,
} from "@kvasir/runtime";
import { freePort, type NodeProcess } from "@kvasir/testing";
import { start as startWorker, type Worker, workerCommand } from "@kvasir/worker";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type SimulatedEngines, simulatedEngines } from "../../worker/test/simulated-engines.js";
import { kvasir, MODEL, stopAll } from "./kvasir-processes.js";

const NAMESPACE = "snapshot-restore";
const fixtures = fileURLToPath(new URL("../../snapshot-agent/test/fixtures/", import.meta.url));

let engines: SimulatedEngines;
let uninstall = () => {};
let dir: string;
let agent: NodeProcess;
let agentUrl: string;
let planes: Planes;
const workers: Worker[] = [];
let frontend: Frontend | undefined;

function workerConfig(...argv: string[]) {
  return workerCommand.toConfig(
    parseFlags(
      workerCommand.flags,
      [
        ...argv,
        "--namespace",
        NAMESPACE,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--engine-metrics-interval",
        "50",
      ],
      {},
      workerCommand.refused,
    ),
  );
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

beforeAll(async () => {
  engines = simulatedEngines("--speedup-ratio 20");
  // In-process workers start `vllm serve` from this process's PATH.
  uninstall = engines.install();
  dir = await mkdtemp(join(tmpdir(), "kvasir-snapshot-restore-"));
  agent = await kvasir(
    [
      "snapshot-agent",
      ...["--storage-path", join(dir, "checkpoints")],
      ...["--criu-path", join(fixtures, "fake-criu.mjs")],
      ...["--cuda-checkpoint-path", join(fixtures, "fake-cuda-checkpoint.mjs")],
    ],
    /snapshot agent ready/,
    { FAKE_TOOLS_LOG: join(dir, "tools.log") },
  );
  agentUrl = JSON.parse(await agent.waitForLine(/snapshot agent ready/)).url;
  planes = {
    discovery: await createDiscovery({ backend: "memory" }),
    events: await createEventPlane({ backend: "memory" }),
  };
}, 60_000);

afterAll(async () => {
  await frontend?.stop();
  for (const worker of workers) await worker.stop();
  // A restored engine lives outside the worker's process tree (the agent ends it once its worker's process is
  // gone, which here is the test runner itself): end it by the pid the restore wrote.
  const pidFiles = await readFile(join(dir, "tools.log"), "utf8").catch(() => "");
  for (const line of pidFiles.split("\n").filter(Boolean)) {
    const call: string[] = JSON.parse(line);
    const at = call.indexOf("--pidfile");
    if (call[1] === "restore" && at > 0) {
      const pid = Number(await readFile(call[at + 1] ?? "", "utf8").catch(() => "0"));
      if (pid > 0) killQuietly(pid);
    }
  }
  await stopAll([agent]);
  await planes?.discovery.close();
  await planes?.events.close();
  uninstall();
  engines?.remove();
  await rm(dir, { recursive: true, force: true });
});

describe("a worker restored from a checkpoint", () => {
  it("is checkpointed by a job, restored with an empty cache, registers and serves", async () => {
    const port = await freePort();
    const engineCommand = `vllm serve ${MODEL} --max-model-len 4096 --num-gpu-blocks-override 512 --port ${port}`;

    // The checkpoint job: the engine starts, becomes ready and is dumped; the job exits 0 without registering.
    const job = await kvasir(
      [
        "worker",
        ...["--backend", "vllm", "--engine-command", engineCommand],
        ...["--checkpoint-after-ready", "--snapshot-agent-url", agentUrl],
        ...["--discovery-backend", "file", "--discovery-file", join(dir, "discovery.json")],
      ],
      /checkpointing the engine/,
      engines.env,
    );
    expect((await job.exited).code).toBe(0);
    const ready = JSON.parse(
      job.stdout.concat(job.stderr).find((l) => l.includes('"checkpoint ready"')) ?? "{}",
    );
    const id: string = ready.checkpoint_id;
    expect(id).toMatch(/^[0-9a-f]{16}$/);
    // The dumped engine's command line and environment: vLLM's dev endpoints on, for /reset_prefix_cache.
    const tree = JSON.parse(await readFile(join(dir, "checkpoints", id, "images", "pstree.img"), "utf8"));
    expect(tree.argv.join(" ")).toContain(`--port ${port}`);
    expect(tree.env).toContain("VLLM_SERVER_DEV_MODE=1");
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();

    // The restored worker: the agent starts the engine again; the worker attaches, empties its cache, registers.
    const events: KvEvent[] = [];
    const subscription = planes.events.subscribe(kvEventsSubject(NAMESPACE, "backend"), (message) => {
      events.push(...fromBinary(KvEventBatchSchema, message.data).events);
    });
    const worker = await startWorker(
      workerConfig("--backend", "vllm", "--restore-from", id, "--snapshot-agent-url", agentUrl),
      { planes, instanceId: newInstanceId() },
    );
    workers.push(worker);
    subscription.unsubscribe();
    expect(events.some((e) => e.workerId === worker.instanceId && e.data.case === "cleared")).toBe(true);

    frontend = await startFrontend(
      frontendCommand.toConfig(
        parseFlags(
          frontendCommand.flags,
          ["--http-host", "127.0.0.1", "--http-port", "0", "--namespace", NAMESPACE],
          {},
          frontendCommand.refused,
        ),
      ),
      { planes },
    );
    const client = new OpenAI({ baseURL: `${frontend.url}/v1`, apiKey: "unused", maxRetries: 0 });
    const answer = await client.completions.create({
      model: MODEL,
      prompt: [1, 2, 3, 4, 5, 6, 7, 8],
      max_tokens: 5,
      // @ts-expect-error vLLM's extension, passed through by Kvasir
      ignore_eos: true,
    });
    expect(answer.usage?.completion_tokens).toBe(5);
    // It was the restored engine that answered: its port is the one the checkpoint recorded.
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/vllm:generation_tokens_total\{[^}]*\} 5(\.0)?$/m);
  });

  it("starts the engine cold when the restore fails and an engine command is given, else refuses to start", async () => {
    const port = await freePort();
    const cold = await startWorker(
      workerConfig(
        ...["--backend", "vllm", "--engine-command", `vllm serve ${MODEL} --port ${port}`],
        ...["--restore-from", "0123456789abcdef", "--snapshot-agent-url", agentUrl],
      ),
      { planes, instanceId: newInstanceId() },
    );
    workers.push(cold);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);

    await expect(
      startWorker(
        workerConfig(
          "--backend",
          "vllm",
          "--restore-from",
          "0123456789abcdef",
          "--snapshot-agent-url",
          agentUrl,
        ),
        {
          planes,
          instanceId: newInstanceId(),
        },
      ),
    ).rejects.toThrow(/restore of 0123456789abcdef failed: .*no checkpoint/);
  });
});
