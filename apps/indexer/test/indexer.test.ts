import { KvEventPublisher, vllmBlockRemoved, vllmBlockStored } from "@kvasir/engine-wire";
import { computeLocalHashes, encodeKvEventBatch, type KvCacheEvent, storedFromTokens } from "@kvasir/kv";
import { create, FindMatchesRequestSchema, IndexerService } from "@kvasir/protocol";
import {
  createClient,
  createDiscovery,
  createEventPlane,
  type Discovery,
  type EventPlane,
  formatInstanceId,
  instanceKey,
  kvEventsSubject,
} from "@kvasir/runtime";
import {
  type NatsServer,
  type NodeProcess,
  type RedisServer,
  spawnNode,
  startNatsServer,
  startRedisServer,
  waitFor,
} from "@kvasir/testing";
import { encode } from "@msgpack/msgpack";
import { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { defaultSnapshotKey } from "../src/indexer.js";
import { watermarksFromJson } from "../src/snapshot-store.js";

const main = new URL("../src/main.ts", import.meta.url).pathname;
const BLOCK = 4;

let nats: NatsServer;
let redis: RedisServer;
let discovery: Discovery;
let events: EventPlane;
let cleanup: (() => Promise<void> | void)[] = [];
let namespaceCounter = 0;

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNatsServer(), startRedisServer()]);
  discovery = await createDiscovery({ backend: "nats", natsServers: nats.url, ttlMs: 2000 });
  events = await createEventPlane({ backend: "nats", natsServers: nats.url });
});

afterAll(async () => {
  await events?.close();
  await discovery?.close();
  await Promise.all([nats?.stop(), redis?.stop()]);
});

afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

interface RunningIndexer {
  process: NodeProcess;
  url: string;
  metricsUrl: string;
  backend: string;
}

/** Field `name` of the indexer's "indexer ready" JSON log line. */
function readyField(line: string, name: string): string {
  const value = (JSON.parse(line) as Record<string, unknown>)[name];
  if (typeof value !== "string") throw new Error(`no ${name} in: ${line}`);
  return value;
}

async function startIndexer(namespace: string, ...extra: string[]): Promise<RunningIndexer> {
  const backend = extra.includes("--indexer-backend") ? [] : ["--indexer-backend", "ts"];
  const child = await spawnNode(
    main,
    [
      "--namespace",
      namespace,
      "--discovery-backend",
      "nats",
      "--discovery-ttl",
      "2",
      "--event-plane",
      "nats",
      "--nats-server",
      nats.url,
      "--kv-cache-block-size",
      String(BLOCK),
      // The status server (with /metrics) is off unless asked for.
      "--system-port",
      "0",
      ...backend,
      ...extra,
    ],
    { readyLine: /indexer ready/ },
  );
  cleanup.push(async () => {
    child.kill("SIGTERM");
    await child.exited;
  });
  const line = await child.waitForLine(/indexer ready/);
  return {
    process: child,
    url: readyField(line, "url"),
    metricsUrl: readyField(line, "metrics_url"),
    backend: readyField(line, "backend"),
  };
}

function newNamespace(): string {
  return `idx-${process.pid}-${++namespaceCounter}`;
}

/** Matched blocks per worker (hex id) for these tokens. */
async function matches(indexer: RunningIndexer, tokens: number[]): Promise<Record<string, number>> {
  const client = createClient(IndexerService, indexer.url);
  const response = await client.findMatches(create(FindMatchesRequestSchema, { tokenIds: tokens }));
  expect(response.blockSize).toBe(BLOCK);
  return Object.fromEntries(
    response.overlaps.map((o) => [`${formatInstanceId(o.workerId)}/${o.dpRank}`, o.matchedBlocks]),
  );
}

async function metric(indexer: RunningIndexer, series: string): Promise<number> {
  const text = await (await fetch(indexer.metricsUrl)).text();
  const line = text.split("\n").find((l) => l.startsWith(series));
  return line ? Number(line.slice(line.lastIndexOf(" ") + 1)) : 0;
}

/** Distinct tokens per test so blocks of one never match another's. */
function tokens(start: number, blocks: number): number[] {
  return Array.from({ length: blocks * BLOCK }, (_, i) => start + i);
}

function stored(workerId: bigint, eventId: bigint, toks: number[], parentSeqHash?: bigint): KvCacheEvent {
  return {
    workerId,
    dpRank: 0,
    eventId,
    data: storedFromTokens(toks, BLOCK, parentSeqHash === undefined ? {} : { parentSeqHash }),
  };
}

/** Watermarks of the namespace's snapshot in Redis, as the indexer wrote them. */
async function snapshotWatermarks(namespace: string) {
  const client = new Redis(redis.url);
  try {
    const text = await client.hget(defaultSnapshotKey(namespace), "watermarks");
    return text === null ? undefined : watermarksFromJson(text);
  } finally {
    client.disconnect();
  }
}

async function registerWorker(namespace: string, workerId: bigint) {
  return discovery.register(
    instanceKey({ namespace, component: "backend", endpoint: "generate", instanceId: workerId }),
    {
      address: "http://127.0.0.1:1",
      transport: "connect-h2c",
      metadata: {},
    },
  );
}

async function openEngine(): Promise<KvEventPublisher> {
  const engine = await KvEventPublisher.open({
    endpoint: "tcp://127.0.0.1:0",
    replayEndpoint: "tcp://127.0.0.1:0",
    topic: "kv-events",
    bufferSteps: 10_000,
  });
  cleanup.push(() => engine.close());
  return engine;
}

/** Engine block names for a run of blocks: distinct from Kvasir's hashes, as a real engine's are. */
function engineHashes(first: number, count: number): bigint[] {
  return Array.from({ length: count }, (_, i) => 0xe000_0000_0000_0000n + BigInt(first + i));
}

describe("kvasir indexer", () => {
  it("answers FindMatches from event-plane events, counts event_id gaps and forgets workers that leave", async () => {
    const ns = newNamespace();
    const worker = 0x1111n;
    const lease = await registerWorker(ns, worker);
    const indexer = await startIndexer(ns);
    const subject = kvEventsSubject(ns, "backend");
    const prompt = tokens(1000, 3);
    const first = storedFromTokens(prompt.slice(0, 2 * BLOCK), BLOCK);
    events.publish(
      subject,
      encodeKvEventBatch([
        { workerId: worker, dpRank: 0, eventId: 1n, data: first },
        stored(worker, 2n, prompt.slice(2 * BLOCK), first.seqHashes[1]),
      ]),
    );
    await events.flush();
    const key = `${formatInstanceId(worker)}/0`;
    await waitFor(async () => (await matches(indexer, prompt))[key] === 3, {
      message: "stored blocks indexed",
    });
    expect(await matches(indexer, [...prompt.slice(0, BLOCK), ...tokens(5000, 2)])).toEqual({ [key]: 1 });

    // event_id 3 and 4 never arrive.
    events.publish(subject, encodeKvEventBatch([stored(worker, 5n, tokens(2000, 1))]));
    await events.flush();
    await waitFor(async () => (await metric(indexer, "dynamo_kvindexer_event_id_gaps_total")) === 1);
    expect(await metric(indexer, 'dynamo_kvindexer_events_dropped_total{reason="event_id_gap"')).toBe(2);
    expect(
      await metric(indexer, 'dynamo_component_kv_cache_events_applied{event_type="stored",status="ok"'),
    ).toBe(3);

    await lease.revoke();
    await waitFor(async () => Object.keys(await matches(indexer, prompt)).length === 0, {
      message: "blocks of a worker that left discovery removed",
    });
  });

  it.each([
    "ts",
    "native",
  ])("restarts warm (%s index): same answers from the Redis snapshot plus events replayed over ZMQ", async (backend) => {
    const ns = newNamespace();
    const engine = await openEngine();
    const zmqWorker = 0x2222n;
    const planeWorker = 0x3333n;
    cleanup.push((await registerWorker(ns, planeWorker)).revoke);
    const args = [
      "--zmq-endpoint",
      engine.endpoint,
      "--zmq-replay-endpoint",
      engine.replayEndpoint ?? "",
      "--zmq-worker-id",
      formatInstanceId(zmqWorker),
      "--redis-url",
      redis.url,
      "--snapshot-interval-events",
      "1",
      "--indexer-backend",
      backend,
    ];
    const first = await startIndexer(ns, ...args);
    expect(first.backend).toBe(backend);
    await engine.subscribed();

    const a = tokens(10_000, 3);
    const b = tokens(20_000, 2);
    const c = tokens(30_000, 2);
    await engine.publish([vllmBlockStored(a, BLOCK, engineHashes(0, 3))]);
    await engine.publish([vllmBlockStored(b, BLOCK, engineHashes(10, 2))]);
    events.publish(kvEventsSubject(ns, "backend"), encodeKvEventBatch([stored(planeWorker, 1n, c)]));
    await events.flush();
    const zKey = `${formatInstanceId(zmqWorker)}/0`;
    const pKey = `${formatInstanceId(planeWorker)}/0`;
    await waitFor(async () => (await matches(first, a))[zKey] === 3 && (await matches(first, c))[pKey] === 2);
    await waitFor(
      async () => {
        const w = await snapshotWatermarks(ns);
        return w?.zmqSeqs.get(engine.endpoint) === 1n && w.eventIds.get(planeWorker) === 1n;
      },
      { message: "snapshot written after the last event" },
    );

    // Killed without a chance to snapshot again; the engine goes on while the indexer is down.
    first.process.kill("SIGKILL");
    await first.process.exited;
    const d = tokens(40_000, 2);
    await engine.publish([
      vllmBlockStored(d, BLOCK, engineHashes(20, 2)),
      vllmBlockRemoved(engineHashes(21, 1)),
    ]);
    await engine.publish([vllmBlockRemoved(engineHashes(10, 2))]);

    const second = await startIndexer(ns, ...args);
    expect(await matches(second, a)).toEqual({ [zKey]: 3 });
    expect(await matches(second, b)).toEqual({});
    expect(await matches(second, c)).toEqual({ [pKey]: 2 });
    expect(await matches(second, d)).toEqual({ [zKey]: 1 });
    // Live events continue from the replayed seq.
    await engine.subscribed(2);
    await engine.publish([vllmBlockRemoved(engineHashes(0, 3))]);
    await waitFor(async () => Object.keys(await matches(second, a)).length === 0);
  });

  it("restarts warm over the event plane too, replaying missed events from a JetStream stream", async () => {
    const ns = newNamespace();
    const worker = 0x7777n;
    cleanup.push((await registerWorker(ns, worker)).revoke);
    const args = ["--kv-events-jetstream", "--redis-url", redis.url, "--snapshot-interval-events", "1"];
    const first = await startIndexer(ns, ...args);
    const subject = kvEventsSubject(ns, "backend");
    const a = storedFromTokens(tokens(100_000, 3), BLOCK);
    events.publish(subject, encodeKvEventBatch([{ workerId: worker, dpRank: 0, eventId: 1n, data: a }]));
    await events.flush();
    const key = `${formatInstanceId(worker)}/0`;
    await waitFor(async () => (await matches(first, tokens(100_000, 3)))[key] === 3);
    await waitFor(async () => (await snapshotWatermarks(ns))?.jetStreamSeq === 1n);

    first.process.kill("SIGKILL");
    await first.process.exited;
    const b = tokens(110_000, 2);
    events.publish(
      subject,
      encodeKvEventBatch([
        stored(worker, 2n, b),
        {
          workerId: worker,
          dpRank: 0,
          eventId: 3n,
          data: { kind: "removed", seqHashes: a.seqHashes.slice(2) },
        },
      ]),
    );
    await events.flush();

    const second = await startIndexer(ns, ...args);
    await waitFor(async () => (await matches(second, b))[key] === 2, { message: "missed events replayed" });
    expect(await matches(second, tokens(100_000, 3))).toEqual({ [key]: 2 });
    expect(await metric(second, 'dynamo_kvindexer_events_dropped_total{reason="stale_event"')).toBe(0);
    expect(await metric(second, "dynamo_kvindexer_event_id_gaps_total")).toBe(0);
  });

  it("on SIGTERM deregisters, writes a final snapshot and exits 0", async () => {
    const ns = newNamespace();
    const worker = 0x8888n;
    cleanup.push((await registerWorker(ns, worker)).revoke);
    const indexer = await startIndexer(
      ns,
      "--redis-url",
      redis.url,
      "--snapshot-interval-events",
      "1000000",
      "--snapshot-interval-seconds",
      "3600",
    );
    const registered = await discovery.list(`v1/instances/${ns}/indexer/find_matches/`);
    expect(registered.map((e) => (e.value as { address: string }).address)).toEqual([indexer.url]);
    events.publish(
      kvEventsSubject(ns, "decode"),
      encodeKvEventBatch([stored(worker, 4n, tokens(120_000, 1))]),
    );
    await events.flush();
    await waitFor(
      async () => (await matches(indexer, tokens(120_000, 1)))[`${formatInstanceId(worker)}/0`] === 1,
    );
    expect(await snapshotWatermarks(ns)).toBeUndefined();

    indexer.process.kill("SIGTERM");
    expect(await indexer.process.exited).toMatchObject({ code: 0 });
    expect((await snapshotWatermarks(ns))?.eventIds).toEqual(new Map([[worker, 4n]]));
    expect(await discovery.list(`v1/instances/${ns}/indexer/`)).toEqual([]);
  });

  it("registers the advertised address, not the bind address, for itself and its metrics", async () => {
    const ns = newNamespace();
    const indexer = await startIndexer(ns, "--host", "0.0.0.0", "--advertise-host", "indexer-0.kvasir.test");
    const port = new URL(indexer.url).port;
    expect(indexer.url).toBe(`http://indexer-0.kvasir.test:${port}`);
    const [entry] = await discovery.list(`v1/instances/${ns}/indexer/find_matches/`);
    const record = entry?.value as { address: string; metadata: Record<string, string> };
    expect(record.address).toBe(indexer.url);
    expect(record.metadata.metrics_url).toMatch(/^http:\/\/indexer-0\.kvasir\.test:\d+\/metrics$/);
    // Bound on every interface: reachable on loopback through the bound port.
    const local = { ...indexer, url: `http://127.0.0.1:${port}` };
    expect(await matches(local, tokens(140_000, 1))).toEqual({});
  });

  it("starts cold, and still serves, when the snapshot in Redis is unreadable", async () => {
    const ns = newNamespace();
    const client = new Redis(redis.url);
    await client.hset(defaultSnapshotKey(ns), {
      index: "not a snapshot",
      backend: "ts",
      watermarks: "{}",
      block_size: String(BLOCK),
      taken_at_ms: "0",
    });
    client.disconnect();
    const indexer = await startIndexer(ns, "--redis-url", redis.url);
    await indexer.process.waitForLine(/snapshot unreadable, starting cold/);
    expect(await matches(indexer, tokens(130_000, 1))).toEqual({});
  });

  it("clears a ZMQ worker whose engine restarted (lower seq)", async () => {
    const ns = newNamespace();
    const engine = await openEngine();
    const worker = 0x4444n;
    const indexer = await startIndexer(
      ns,
      "--zmq-endpoint",
      engine.endpoint,
      "--zmq-replay-endpoint",
      engine.replayEndpoint ?? "",
      "--zmq-worker-id",
      formatInstanceId(worker),
    );
    await engine.subscribed();
    const before = tokens(50_000, 2);
    const after = tokens(60_000, 2);
    for (let i = 0; i < 3; i++)
      await engine.publish([vllmBlockStored(tokens(70_000 + i * 100, 1), BLOCK, engineHashes(i, 1))]);
    await engine.publish([vllmBlockStored(before, BLOCK, engineHashes(100, 2))]);
    const key = `${formatInstanceId(worker)}/0`;
    await waitFor(async () => (await matches(indexer, before))[key] === 2);

    engine.restartSequence();
    await engine.publish([vllmBlockStored(after, BLOCK, engineHashes(200, 2))]);
    await waitFor(async () => (await matches(indexer, after))[key] === 2);
    expect(await matches(indexer, before)).toEqual({});
    expect(await matches(indexer, tokens(70_000, 1))).toEqual({});
  });

  it("survives garbage and truncated ZMQ frames and payloads, counting them by reason", async () => {
    const ns = newNamespace();
    const engine = await openEngine();
    const worker = 0x5555n;
    const indexer = await startIndexer(
      ns,
      "--zmq-endpoint",
      engine.endpoint,
      "--zmq-worker-id",
      formatInstanceId(worker),
    );
    await engine.subscribed();
    const seq = Buffer.alloc(8);
    await engine.sendFrames(["kv-events", Buffer.from([1, 2, 3])]);
    await engine.sendFrames(["kv-events", Buffer.from([1, 2, 3]), Buffer.from([0x93])]);
    await engine.sendFrames(["kv-events", seq, Buffer.from([0x93, 0xcb, 0x41])]);
    seq.writeBigUInt64BE(1n);
    await engine.sendFrames(["kv-events", seq, Buffer.from("definitely not msgpack \xc1\xc1")]);
    seq.writeBigUInt64BE(2n);
    await engine.sendFrames([
      "kv-events",
      seq,
      Buffer.from([0x92, 0x01, 0x91, 0x81, 0xa4, 0x74, 0x79, 0x70, 0x65, 0x05]),
    ]);
    await waitFor(
      async () =>
        (await metric(indexer, 'dynamo_kvindexer_events_dropped_total{reason="malformed_frames"')) === 2,
    );
    const malformed = await metric(indexer, 'dynamo_kvindexer_events_dropped_total{reason="malformed"');
    expect(malformed).toBeGreaterThanOrEqual(2);

    // Still consuming: a good batch after the garbage is applied.
    const prompt = tokens(80_000, 2);
    seq.writeBigUInt64BE(3n);
    await engine.sendFrames([
      "kv-events",
      seq,
      Buffer.from(
        encode([0, [vllmBlockStored(prompt, BLOCK, engineHashes(0, 2))], 0], {
          useBigInt64: true,
        }),
      ),
    ]);
    await waitFor(async () => (await matches(indexer, prompt))[`${formatInstanceId(worker)}/0`] === 2);
  });

  it("hashes token ids like the workers do, honouring LoRA names", async () => {
    const ns = newNamespace();
    const worker = 0x6666n;
    cleanup.push((await registerWorker(ns, worker)).revoke);
    const indexer = await startIndexer(ns);
    const prompt = tokens(90_000, 2);
    events.publish(
      kvEventsSubject(ns, "prefill"),
      encodeKvEventBatch([
        {
          workerId: worker,
          dpRank: 1,
          eventId: 0n,
          data: storedFromTokens(prompt, BLOCK, { loraName: "a" }),
        },
      ]),
    );
    await events.flush();
    const client = createClient(IndexerService, indexer.url);
    const key = (id: bigint) => `${formatInstanceId(id)}/1`;
    await waitFor(async () => {
      const r = await client.findMatches(
        create(FindMatchesRequestSchema, { tokenIds: prompt, loraName: "a" }),
      );
      return r.overlaps.some((o) => key(o.workerId) === key(worker) && o.matchedBlocks === 2);
    });
    expect(await matches(indexer, prompt)).toEqual({});
    const local = computeLocalHashes(prompt, BLOCK, { loraName: "a" });
    const byHashes = await client.findMatches(create(FindMatchesRequestSchema, { localHashes: [...local] }));
    expect(byHashes.overlaps.map((o) => [o.workerId, o.dpRank, o.matchedBlocks])).toEqual([[worker, 1, 2]]);
  });
});
