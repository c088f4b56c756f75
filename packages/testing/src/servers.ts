import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { get as httpsGet } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { requireBinary } from "./binaries.js";
import { freePort, probeTcp } from "./ports.js";
import { forgetDir, type ManagedProcess, prefixed, spawnManaged, tail, trackDir } from "./processes.js";
import { waitFor } from "./wait.js";

export interface NatsServer {
  /** `nats://HOST:PORT` (HOST is 127.0.0.1 unless `host` was given) */
  readonly url: string;
  readonly port: number;
  /**
   * Stops nats-server and starts it again on the same port, after `downMs` (an outage); with `wipe` the store is
   * emptied first, so the new server has lost every stream and bucket, else it keeps what it had stored.
   */
  restart(options?: { wipe?: boolean; downMs?: number }): Promise<void>;
  stop(): Promise<void>;
}

export interface RedisServer {
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

export interface EtcdServer {
  /** `http://127.0.0.1:CLIENT_PORT`, the form ETCD_ENDPOINTS takes. */
  readonly url: string;
  readonly clientPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /**
   * Kills etcd (SIGKILL, as a crash) and starts it again on the same ports; with `wipe` the data directory is
   * emptied first, so the new etcd has lost every key and lease; with `downMs` it stays down that long (an outage).
   */
  restart(options?: { wipe?: boolean; downMs?: number }): Promise<void>;
  /** Stops etcd and removes its data directory. */
  stop(): Promise<void>;
}

export interface ServerOptions {
  /** Most time to wait for the server to accept connections. */
  readyTimeoutMs?: number;
}

export interface NatsServerOptions extends ServerOptions {
  /** Address nats-server binds and the URL names (default 127.0.0.1). */
  host?: string;
  /**
   * Command the server runs under, e.g. `["ip", "netns", "exec", "ns-a"]`. The test process may then be unable to
   * dial the server, so readiness is read from the server's log instead of a TCP probe.
   */
  commandPrefix?: string[];
  /** Port to listen on (a NATS restarted in place, for outage tests); a free one otherwise. */
  port?: number;
  /** Clients must log in with this user and password (`--user`/`--pass`); `url` carries no credentials. */
  auth?: { user: string; password: string } | { token: string };
  /** Serve TLS with this certificate and key (PEM files). */
  tls?: { certPath: string; keyPath: string };
}

const NATS_SERVER = "nats-server";
const REDIS_SERVER = "redis-server";
const ETCD = "etcd";
// freePort can race with another process taking the port; retry the whole start a few times.
const START_ATTEMPTS = 3;

/**
 * Starts nats-server with JetStream on 127.0.0.1 (or `host`), a free port and a temporary store directory,
 * optionally under a command prefix such as `ip netns exec <ns>`.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = requireBinary(NATS_SERVER, "nats-server");
  const { host = "127.0.0.1", commandPrefix = [] } = options;
  return withRetries(async () => {
    const port = options.port ?? (await freePort());
    const storeDir = mkdtempSync(join(tmpdir(), "kvasir-nats-"));
    trackDir(storeDir);
    const args = ["-js", "-a", host, "-p", String(port), "-sd", storeDir];
    const { auth, tls } = options;
    if (auth && "token" in auth) args.push("--auth", auth.token);
    else if (auth) args.push("--user", auth.user, "--pass", auth.password);
    if (tls) args.push("--tls", "--tlscert", tls.certPath, "--tlskey", tls.keyPath);
    const removeDir = () => {
      rmSync(storeDir, { recursive: true, force: true });
      forgetDir(storeDir);
    };
    const launch = async (cleanup?: () => void): Promise<ManagedProcess> => {
      const child = spawnManaged(...prefixed(commandPrefix, binary, args), {});
      // A nats-server greets every client with an INFO line once it accepts connections (JetStream is up by
      // then); it logs "Server is ready" at the same point, which is what a prefixed (unreachable) server offers.
      const ready =
        commandPrefix.length > 0
          ? async () => [...child.stdout, ...child.stderr].some((line) => line.includes("Server is ready"))
          : async () => (await probeTcp(port)).startsWith("INFO ");
      await awaitReady(child, "nats-server", options, ready, cleanup);
      return child;
    };
    let child = await launch(removeDir);
    return {
      url: `nats://${host}:${port}`,
      port,
      async restart({ wipe = false, downMs = 0 } = {}) {
        await stopProcess(child);
        if (wipe) {
          rmSync(storeDir, { recursive: true, force: true });
          mkdirSync(storeDir);
        }
        if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
        child = await launch();
      },
      stop: () => stopProcess(child).then(removeDir),
    };
  });
}

export interface RedisServerOptions extends ServerOptions {
  /** Clients must AUTH with this password (`--requirepass`); `url` carries no credentials. */
  password?: string;
}

/** Starts redis-server on 127.0.0.1 and a free port, without persistence. */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = requireBinary(REDIS_SERVER, "redis-server");
  return withRetries(async () => {
    const port = await freePort();
    const child = spawnManaged(
      binary,
      [
        "--port",
        String(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        ...(options.password ? ["--requirepass", options.password] : []),
      ],
      {},
    );
    const { password } = options;
    await awaitReady(child, "redis-server", options, async () =>
      password
        ? (await probeTcp(port, `AUTH ${password}\r\n`)).startsWith("+OK")
        : (await probeTcp(port, "PING\r\n")).startsWith("+PONG"),
    );
    return { url: `redis://127.0.0.1:${port}`, port, stop: () => stopProcess(child) };
  });
}

/**
 * Starts a single-member etcd (Debian's etcd-server, v3.4) on 127.0.0.1 with free client and peer ports and a
 * temporary data directory.
 */
export interface EtcdServerOptions extends ServerOptions {
  /** Serve clients over TLS with this certificate and key (PEM files): `url` is https://. */
  tls?: { certPath: string; keyPath: string };
}

export async function startEtcdServer(options: EtcdServerOptions = {}): Promise<EtcdServer> {
  const binary = requireBinary(ETCD, "etcd-server");
  return withRetries(async () => {
    const clientPort = await freePort();
    const peerPort = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), "kvasir-etcd-"));
    trackDir(dataDir);
    const removeDir = () => {
      rmSync(dataDir, { recursive: true, force: true });
      forgetDir(dataDir);
    };
    const { tls } = options;
    const client = `${tls ? "https" : "http"}://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const args = [
      ...(tls ? [`--cert-file=${tls.certPath}`, `--key-file=${tls.keyPath}`] : []),
      "--name=kvasir-test",
      `--data-dir=${join(dataDir, "member")}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=kvasir-test=${peer}`,
      "--logger=zap",
      "--log-level=warn",
    ];
    const launch = async (cleanup?: () => void): Promise<ManagedProcess> => {
      const child = spawnManaged(binary, args, {});
      // /health answers 200 once the member has a leader and serves requests (503 before).
      await awaitReady(
        child,
        "etcd",
        options,
        tls
          ? () => httpsHealthy(clientPort)
          : async () => /^HTTP\/1\.[01] 200/.test(await probeTcp(clientPort, "GET /health HTTP/1.0\r\n\r\n")),
        cleanup,
      );
      return child;
    };
    let child = await launch(removeDir);
    return {
      url: client,
      clientPort,
      peerPort,
      dataDir,
      async restart({ wipe = false, downMs = 0 } = {}) {
        child.kill("SIGKILL");
        await child.exited;
        if (downMs > 0) await new Promise((resolve) => setTimeout(resolve, downMs));
        if (wipe) rmSync(join(dataDir, "member"), { recursive: true, force: true });
        child = await launch();
      },
      stop: () => stopProcess(child).then(removeDir),
    };
  });
}

async function awaitReady(
  child: ManagedProcess,
  name: string,
  { readyTimeoutMs = 10_000 }: ServerOptions,
  ready: () => Promise<boolean>,
  cleanup?: () => void,
): Promise<void> {
  let exited = false;
  void child.exited.then(() => {
    exited = true;
  });
  try {
    await waitFor(
      async () => {
        if (exited) throw new Error(`${name} exited during startup`);
        return ready().catch(() => false);
      },
      { timeoutMs: readyTimeoutMs, intervalMs: 20, message: `${name} accepting connections` },
    );
  } catch (error) {
    child.kill("SIGKILL");
    await child.exited;
    cleanup?.();
    throw new Error(`${(error as Error).message}\n${tail(child.stdout, child.stderr)}`);
  }
}

async function stopProcess(child: ManagedProcess): Promise<void> {
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await child.exited;
  clearTimeout(timer);
}

async function withRetries<T>(start: () => Promise<T>): Promise<T> {
  let lastError: unknown;
  for (let attempt = 0; attempt < START_ATTEMPTS; attempt++) {
    try {
      return await start();
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/** Whether an https server on 127.0.0.1:port answers GET /health with 200 (its certificate is not checked). */
function httpsHealthy(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpsGet(
      { host: "127.0.0.1", port, path: "/health", rejectUnauthorized: false, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}
