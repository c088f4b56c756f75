import {
  create,
  FindMatchesRequestSchema,
  GenerateRequestSchema,
  IndexerService,
  WorkerService,
} from "@kvasir/protocol";
import { createClient, parseInstanceId } from "@kvasir/runtime";
import { type NatsServer, type NodeProcess, spawnNode, startNatsServer, waitFor } from "@kvasir/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const workerMain = new URL("../../worker/src/main.ts", import.meta.url).pathname;
const indexerMain = new URL("../src/main.ts", import.meta.url).pathname;
const namespace = `mocker-zmq-${process.pid}`;

let nats: NatsServer;
const children: NodeProcess[] = [];

beforeAll(async () => {
  nats = await startNatsServer();
});

afterAll(async () => {
  for (const child of children) child.kill("SIGTERM");
  await Promise.all(children.map((child) => child.exited));
  await nats?.stop();
});

function runtimeArgs(ns = namespace): string[] {
  return [
    "--namespace",
    ns,
    "--discovery-backend",
    "nats",
    "--event-plane",
    "nats",
    "--nats-server",
    nats.url,
  ];
}

async function spawn(script: string, args: string[], ready: RegExp): Promise<Record<string, unknown>> {
  return (await spawnProcess(script, args, ready)).ready;
}

async function spawnProcess(script: string, args: string[], ready: RegExp) {
  const child = await spawnNode(script, args, { readyLine: ready });
  children.push(child);
  return { child, ready: JSON.parse(await child.waitForLine(ready)) as Record<string, unknown> };
}

describe("mocker worker publishing like vLLM over ZMQ", () => {
  it("feeds the indexer, which recomputes the blocks from token ids and answers FindMatches", async () => {
    const worker = await spawn(
      workerMain,
      [
        ...runtimeArgs(),
        "--kv-events-publisher",
        "zmq",
        "--speedup-ratio",
        "50",
        "--num-gpu-blocks",
        "256",
        "--context-length",
        "2048",
      ],
      /worker ready/,
    );
    const [endpoint] = worker.zmq_endpoints as string[];
    const [replayEndpoint] = worker.zmq_replay_endpoints as string[];
    const workerId = parseInstanceId(worker.instance_id as string);
    expect(endpoint).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);

    // Published before the indexer subscribes: only the replay endpoint can deliver these blocks.
    const generate = createClient(WorkerService, worker.url as string);
    const early = Array.from({ length: 48 }, (_, i) => 7000 + i);
    const run = async (id: string, tokenIds: number[]) => {
      const request = create(GenerateRequestSchema, {
        requestId: id,
        tokenIds,
        stop: { maxTokens: 2, ignoreEos: true },
      });
      for await (const _ of generate.generate(request)) {
        // Drain the stream: the blocks are cached once the request has run.
      }
    };
    await run("early", early);

    const indexer = await spawn(
      indexerMain,
      [
        ...runtimeArgs(),
        "--zmq-endpoint",
        endpoint as string,
        "--zmq-replay-endpoint",
        replayEndpoint as string,
        "--zmq-worker-id",
        worker.instance_id as string,
        "--zmq-topic",
        "kv-events",
      ],
      /indexer ready/,
    );
    const findMatches = async (tokenIds: number[]) => {
      const client = createClient(IndexerService, indexer.url as string);
      const response = await client.findMatches(create(FindMatchesRequestSchema, { tokenIds }));
      return response.overlaps.map((o) => ({
        workerId: o.workerId,
        dpRank: o.dpRank,
        matchedBlocks: o.matchedBlocks,
      }));
    };
    expect(await findMatches(early)).toEqual([{ workerId, dpRank: 0, matchedBlocks: 3 }]);

    // Live: a prompt sharing the first two blocks, then diverging.
    const live = [...early.slice(0, 32), ...Array.from({ length: 40 }, (_, i) => 9000 + i)];
    await run("live", live);
    await waitFor(async () => (await findMatches(live))[0]?.matchedBlocks === 4, {
      message: "live ZMQ events indexed",
    });
    expect(await findMatches(early)).toEqual([{ workerId, dpRank: 0, matchedBlocks: 3 }]);
    expect(await findMatches(Array.from({ length: 32 }, (_, i) => 1 + i))).toEqual([]);
  });

  it("subscribes to the streams workers advertise in discovery, and drops them when the worker leaves", async () => {
    const ns = `${namespace}-discovered`;
    const indexer = await spawn(indexerMain, [...runtimeArgs(ns), "--zmq-from-discovery"], /indexer ready/);
    const { child, ready: worker } = await spawnProcess(
      workerMain,
      [
        ...runtimeArgs(ns),
        "--kv-events-publisher",
        "zmq",
        "--speedup-ratio",
        "50",
        "--num-gpu-blocks",
        "256",
      ],
      /worker ready/,
    );
    const workerId = parseInstanceId(worker.instance_id as string);
    const prompt = Array.from({ length: 40 }, (_, i) => 11_000 + i);
    const request = create(GenerateRequestSchema, {
      requestId: "d",
      tokenIds: prompt,
      stop: { maxTokens: 1, ignoreEos: true },
    });
    for await (const _ of createClient(WorkerService, worker.url as string).generate(request)) {
      // Drain the stream.
    }
    const client = createClient(IndexerService, indexer.url as string);
    const overlaps = async () =>
      (await client.findMatches(create(FindMatchesRequestSchema, { tokenIds: prompt }))).overlaps.map((o) => [
        o.workerId,
        o.matchedBlocks,
      ]);
    await waitFor(async () => (await overlaps()).length > 0, { message: "advertised stream consumed" });
    expect(await overlaps()).toEqual([[workerId, 2]]);

    child.kill("SIGTERM");
    await child.exited;
    await waitFor(async () => (await overlaps()).length === 0, {
      message: "blocks of the departed worker removed",
    });
  });
});
