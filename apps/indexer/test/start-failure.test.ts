// A start that fails part-way must undo what it did: no discovery entry, no port still bound, nothing keeping the
// process alive. The indexer runs in a child that never calls process.exit, so it ends only if nothing leaked.
import { createServer, type Server, Socket } from "node:net";
import { createDiscovery, type Discovery, instanceKey } from "@kvasir/runtime";
import {
  freePort,
  type NatsServer,
  type NodeProcess,
  type RedisServer,
  sleep,
  spawnNode,
  startNatsServer,
  startRedisServer,
  waitFor,
} from "@kvasir/testing";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultSnapshotKey } from "../src/indexer.js";

const fixture = new URL("./start-then-stop.ts", import.meta.url).pathname;
/** How long a child whose start failed (or that stopped) may take to end by itself. */
const EXIT_WITHIN_MS = 10_000;

let nats: NatsServer;
let redis: RedisServer;
let discovery: Discovery;
let namespaceCounter = 0;

beforeAll(async () => {
  [nats, redis] = await Promise.all([startNatsServer(), startRedisServer()]);
  discovery = await createDiscovery({ backend: "nats", natsServers: nats.url, ttlMs: 2000 });
});

afterAll(async () => {
  await discovery?.close();
  await Promise.all([nats?.stop(), redis?.stop()]);
});

function newNamespace(): string {
  return `idx-fail-${process.pid}-${++namespaceCounter}`;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.setTimeout(1000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
    socket.connect(port, "127.0.0.1");
  });
}

/** libzmq closes a bound listener on its I/O thread shortly after close() returns, so give it a moment. */
async function zmqUnbound(port: number): Promise<void> {
  await waitFor(async () => !(await listening(port)), {
    timeoutMs: 2000,
    message: `the bound ZMQ endpoint on port ${port} closed`,
  });
}

async function holdPort(): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return server;
}

function portOf(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("not listening on TCP");
  return address.port;
}

/** Runs the fixture with the planes on this test's NATS; resolves with its first line saying how start went. */
async function run(namespace: string, args: string[]): Promise<{ child: NodeProcess; outcome: string }> {
  const child = await spawnNode(fixture, [
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
    "--indexer-backend",
    "ts",
    ...args,
  ]);
  const outcome = await child.waitForLine(/^(started|start failed)/, 20_000);
  return { child, outcome };
}

/** Waits for the child to end on its own; if it does not, says what it still had running. */
async function exitsByItself(child: NodeProcess): Promise<void> {
  const status = await Promise.race([child.exited, sleep(EXIT_WITHIN_MS).then(() => undefined)]);
  if (status === undefined) {
    child.kill("SIGKILL");
    await child.exited;
    throw new Error(`still running ${EXIT_WITHIN_MS} ms on:\n${child.stdout.slice(-5).join("\n")}`);
  }
  expect(status).toEqual({ code: 0, signal: null });
}

async function indexerEntries(namespace: string) {
  return discovery.list(`v1/instances/${namespace}/indexer/`);
}

async function snapshotWritten(namespace: string): Promise<boolean> {
  const client = new Redis(redis.url);
  try {
    return (await client.exists(defaultSnapshotKey(namespace))) === 1;
  } finally {
    client.disconnect();
  }
}

/**
 * Flags that make the indexer open everything it can before its Connect server: the status server, Redis
 * snapshots, a JetStream consumer, a bound ZMQ endpoint, and a stream a worker advertises in discovery.
 */
async function everySource(namespace: string) {
  const [systemPort, zmqPort, advertisedPort] = await Promise.all([freePort(), freePort(), freePort()]);
  const worker = await discovery.register(
    instanceKey({ namespace, component: "backend", endpoint: "generate", instanceId: 0x77n }),
    {
      address: "http://127.0.0.1:1",
      transport: "connect-h2c",
      metadata: { zmq_kv_events_endpoints: `tcp://127.0.0.1:${advertisedPort}` },
    },
  );
  const args = [
    "--system-port",
    String(systemPort),
    "--redis-url",
    redis.url,
    "--kv-events-jetstream",
    "--zmq-endpoint",
    `tcp://*:${zmqPort}`,
    "--zmq-worker-id",
    "1",
    "--zmq-from-discovery",
  ];
  return { args, systemPort, zmqPort, worker };
}

describe("kvasir indexer start that fails part-way", () => {
  it("leaves nothing behind when Redis cannot be reached", async () => {
    const ns = newNamespace();
    const [systemPort, deadRedisPort] = await Promise.all([freePort(), freePort()]);
    const { child, outcome } = await run(ns, [
      "--system-port",
      String(systemPort),
      "--redis-url",
      `redis://127.0.0.1:${deadRedisPort}`,
    ]);
    expect(outcome).toMatch(
      new RegExp(
        `^start failed: cannot connect to Redis at 127\\.0\\.0\\.1:${deadRedisPort}: .*ECONNREFUSED`,
      ),
    );
    // The status server had started before Redis was tried.
    expect(await listening(systemPort), "status server").toBe(false);
    expect(await indexerEntries(ns)).toEqual([]);
    await exitsByItself(child);
  });

  it("leaves nothing behind when a ZMQ endpoint cannot be bound, with Redis and the plane consumer open", async () => {
    const ns = newNamespace();
    const taken = await holdPort();
    const systemPort = await freePort();
    try {
      const { child, outcome } = await run(ns, [
        ...["--system-port", String(systemPort), "--redis-url", redis.url, "--kv-events-jetstream"],
        ...["--zmq-endpoint", `tcp://*:${portOf(taken)}`, "--zmq-worker-id", "1"],
      ]);
      expect(outcome).toBe(
        `start failed: cannot subscribe to ZMQ KV events at tcp://*:${portOf(taken)}: Address already in use`,
      );
      expect(await listening(systemPort), "status server").toBe(false);
      expect(await indexerEntries(ns)).toEqual([]);
      await exitsByItself(child);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it("leaves nothing behind when the Connect port is taken after every source has opened", async () => {
    const ns = newNamespace();
    const taken = await holdPort();
    const { args, systemPort, zmqPort, worker } = await everySource(ns);
    try {
      const { child, outcome } = await run(ns, [...args, "--port", String(portOf(taken))]);
      expect(outcome).toMatch(/^start failed: .*EADDRINUSE/);
      expect(await listening(systemPort), "status server").toBe(false);
      await zmqUnbound(zmqPort);
      expect(await indexerEntries(ns)).toEqual([]);
      // A start that failed writes no final snapshot: its state is partial.
      expect(await snapshotWritten(ns)).toBe(false);
      await exitsByItself(child);
    } finally {
      await new Promise((resolve) => taken.close(resolve));
      await worker.revoke();
    }
  });

  it("after a full start, stop deregisters, writes the final snapshot and leaves nothing running", async () => {
    const ns = newNamespace();
    const { args, systemPort, zmqPort, worker } = await everySource(ns);
    try {
      const { child, outcome } = await run(ns, args);
      expect(outcome).toBe("started");
      await child.waitForLine(/^stopped$/, 20_000);
      expect(await listening(systemPort), "status server").toBe(false);
      await zmqUnbound(zmqPort);
      expect(await indexerEntries(ns)).toEqual([]);
      expect(await snapshotWritten(ns)).toBe(true);
      await exitsByItself(child);
    } finally {
      await worker.revoke();
    }
  });
});
