// Public surface of @kvasir/testing: real servers and processes on loopback for integration tests.

export { freePort } from "./ports.js";
export type { ExitStatus } from "./processes.js";
export {
  type EtcdServer,
  type EtcdServerOptions,
  type NatsServer,
  type NatsServerOptions,
  type RedisServer,
  type RedisServerOptions,
  type ServerOptions,
  startEtcdServer,
  startNatsServer,
  startRedisServer,
} from "./servers.js";
export { type NodeProcess, type SpawnNodeOptions, spawnNode } from "./spawn-node.js";
export { gibberish } from "./text.js";
export { createTestPki, type TestPki } from "./tls-certs.js";
export { sleep, type WaitOptions, waitFor } from "./wait.js";
