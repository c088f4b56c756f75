// The component host: what every Kvasir app does around its own logic. It opens (or borrows) the discovery and
// event planes, serves Connect and the status server, registers the instance under its advertised address, and
// on stop runs every stop action in reverse order of start: deregister, close servers (draining streams), close
// the app's logic, close the planes it owns, flush telemetry. A start that fails part-way runs the same actions.
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { InstanceRecord } from "@kvasir/protocol";
import type { RuntimeConfig } from "../config.js";
import { createDiscovery } from "../discovery/create.js";
import type { Discovery, DiscoveryStatusEvent, Lease } from "../discovery/types.js";
import { createEventPlane } from "../event-plane/create.js";
import type { EventPlane } from "../event-plane/types.js";
import { formatInstanceId, instanceKey, newInstanceId } from "../identity.js";
import type { Service } from "../lifecycle.js";
import { connectClientOptions } from "../plane-security.js";
import type { ClientOptions } from "../rpc/client.js";
import { type ConnectServer, startConnectServer } from "../rpc/server.js";
import { serviceTokenServerInterceptor } from "../rpc/service-token.js";
import { type StatusServer, startStatusServer } from "../status-server.js";
import { advertisedHost, httpUrl, localHost } from "./advertise.js";
import { DISCOVERY_CONNECTED, PlaneStatus } from "./plane-status.js";

/** The planes an app talks over; given by `kvasir serve` and tests so several apps share one process's planes. */
export interface Planes {
  discovery: Discovery;
  events: EventPlane;
}

/** What `start(config, deps?)` of every app accepts. */
export interface HostDeps {
  /** Planes owned by the caller: the host uses them and never closes them. */
  planes?: Partial<Planes>;
  /** Fixed instance id (tests, `kvasir serve`); random otherwise. */
  instanceId?: bigint;
}

/** The logging the host needs; @kvasir/telemetry's logger fits. */
export interface HostLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

export interface ComponentHostOptions {
  /** Dynamo component name: `frontend`, `router`, `indexer`, `backend`, `prefill`, `decode`, ... */
  component: string;
  runtime: RuntimeConfig;
  log: HostLog;
  /** Host name or address registered in discovery; a wildcard bind advertises the primary address otherwise. */
  advertiseHost?: string;
  /** Flushes buffered telemetry (spans); run last on stop. */
  flush?: () => Promise<void>;
  deps?: HostDeps;
}

export interface ServeConnectOptions {
  host: string;
  port: number;
  routes: (router: ConnectRouter) => void;
  interceptors?: Interceptor[];
  /** How long in-flight streams may finish on stop. */
  drainMs: number;
}

export interface ServeStatusOptions {
  host: string;
  /** `--system-port`; no status server when undefined. */
  port: number | undefined;
  /** Fields added to /health; `ready` is false while the component drains. */
  health?: () => Record<string, unknown>;
  metrics: () => Promise<string>;
}

/** A server the host runs: where it listens and where peers reach it. */
export interface HostedServer {
  /** The URL registered in discovery: the advertised host and the bound port. */
  readonly url: string;
  /** The URL a process on this host dials: the bind address, or loopback for a wildcard bind. */
  readonly localUrl: string;
  readonly port: number;
  /** How peers speak to it, for its discovery record: Connect over TLS (`connect-h2`) or cleartext. */
  readonly transport: "connect-h2" | "connect-h2c";
}

type StopAction = { name: string; run: () => unknown };

/** 127.0.0.0/8, ::1 and localhost: reachable from this host only. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, "");
  return bare === "localhost" || bare === "::1" || /^127\.\d+\.\d+\.\d+$/.test(bare);
}

export class ComponentHost implements Service {
  readonly instanceId: bigint;
  readonly instanceHex: string;
  readonly namespace: string;
  readonly component: string;
  readonly discovery: Discovery;
  readonly events: EventPlane;
  private readonly stops: StopAction[] = [];
  private stopping: Promise<void> | undefined;
  private drainingNow = false;
  private registered = false;
  /** Discovery disconnects and reconnects as this component saw them: logged, counted, served on /metrics. */
  readonly planeStatus: PlaneStatus;

  private constructor(
    private readonly options: ComponentHostOptions,
    planes: Planes,
  ) {
    this.instanceId = options.deps?.instanceId ?? newInstanceId();
    this.instanceHex = formatInstanceId(this.instanceId);
    this.namespace = options.runtime.namespace;
    this.component = options.component;
    this.discovery = planes.discovery;
    this.events = planes.events;
    this.planeStatus = new PlaneStatus({ namespace: this.namespace, component: this.component });
    const unsubscribe = this.discovery.onStatus?.((event) => this.onDiscoveryStatus(event));
    if (unsubscribe) this.onStop("discovery status", unsubscribe);
  }

  /** Opens the planes the caller did not give. On failure nothing stays open. */
  static async open(options: ComponentHostOptions): Promise<ComponentHost> {
    const given = options.deps?.planes ?? {};
    const owned: (() => Promise<void>)[] = [];
    try {
      let discovery = given.discovery;
      if (discovery === undefined) {
        const opened = await createDiscovery(options.runtime.discovery);
        owned.push(() => opened.close());
        discovery = opened;
      }
      let events = given.events;
      if (events === undefined) {
        const opened = await createEventPlane(options.runtime.eventPlane);
        owned.push(async () => {
          await opened.flush();
          await opened.close();
        });
        events = opened;
      }
      const host = new ComponentHost(options, { discovery, events });
      if (options.flush) host.onStop("telemetry", options.flush);
      for (const close of owned) host.onStop("planes", close);
      return host;
    } catch (error) {
      for (const close of owned.reverse()) await close().catch(() => {});
      throw error;
    }
  }

  /** True from the moment stop() begins: /health answers 503 and new work should be refused. */
  get draining(): boolean {
    return this.drainingNow;
  }

  /** Runs `action` on stop, before every action added earlier. */
  onStop(name: string, action: () => unknown): void {
    this.stops.push({ name, run: action });
  }

  /** The host peers use to reach a server bound to `bindHost`. */
  advertise(bindHost: string): string {
    return advertisedHost(bindHost, this.options.advertiseHost);
  }

  /**
   * TLS, client certificate and service token for the Connect clients this app creates (`runtime.connect`);
   * spread into createClient's options: `{ ...host.clientOptions, interceptors }`.
   */
  get clientOptions(): ClientOptions {
    return connectClientOptions(this.options.runtime.connect);
  }

  /**
   * Serves Connect routes over HTTP/2 (over TLS with `runtime.connect.tls`, refusing calls without the service
   * token when one is set); stop drains in-flight streams for `drainMs`.
   */
  async serveConnect(options: ServeConnectOptions): Promise<HostedServer> {
    const { tls, serviceToken } = this.options.runtime.connect ?? {};
    const interceptors = [
      ...(serviceToken ? [serviceTokenServerInterceptor(serviceToken)] : []),
      ...(options.interceptors ?? []),
    ];
    const server: ConnectServer = await startConnectServer({
      host: options.host,
      port: options.port,
      routes: options.routes,
      ...(interceptors.length > 0 ? { interceptors } : {}),
      ...(tls ? { tls } : {}),
    });
    this.onStop("connect server", () => server.close({ graceMs: options.drainMs }));
    this.warnIfOpen(options.host, "Connect", tls !== undefined, !!serviceToken || !!tls?.clientCaPath);
    return this.hosted(options.host, server.port, tls ? "https" : "http");
  }

  /**
   * Warns once per server when it listens beyond loopback with neither TLS nor authentication: anyone who can
   * reach the port can use it.
   */
  warnIfOpen(bindHost: string, server: string, tls: boolean, authenticated: boolean): void {
    if (isLoopbackHost(bindHost) || (tls && authenticated)) return;
    const missing = [tls ? undefined : "TLS", authenticated ? undefined : "authentication"].filter(Boolean);
    this.options.log.warn(`${server} server listens beyond loopback without ${missing.join(" or ")}`, {
      host: bindHost,
      hint:
        server === "HTTP"
          ? "set --api-key (and --tls-cert-path/--tls-key-path), or bind --http-host 127.0.0.1"
          : "set --service-token and/or --tls-cert-path/--tls-key-path, or bind --host 127.0.0.1",
    });
  }

  /**
   * Serves `/health`, `/live` and `/metrics` (Dynamo's system server, `--system-port`) when a port is given.
   * `/health` is ready once the instance is registered in discovery and until it starts draining.
   */
  async serveStatus(options: ServeStatusOptions): Promise<HostedServer | undefined> {
    if (options.port === undefined) return undefined;
    const server: StatusServer = await startStatusServer({
      host: options.host,
      port: options.port,
      health: () => ({
        ready: this.registered && !this.drainingNow,
        instance_id: this.instanceHex,
        component: this.component,
        ...options.health?.(),
      }),
      // The plane counters go on every component's /metrics without each app registering them.
      metrics: async () => {
        const text = await options.metrics();
        // An app that registered them itself (registerSamples) already has them.
        if (text.includes(DISCOVERY_CONNECTED)) return text;
        return `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${this.planeStatus.metricsText()}`;
      },
    });
    this.onStop("status server", () => server.close());
    return this.hosted(options.host, Number(new URL(server.url).port));
  }

  /** Registers a discovery entry; it is revoked first on stop, so nobody picks an instance that drains. */
  async register(key: string, value: unknown): Promise<Lease> {
    const lease = await this.discovery.register(key, value);
    this.onStop(`deregister ${key}`, () => lease.revoke());
    return lease;
  }

  /** Registers this instance under `v1/instances/{ns}/{component}/{endpoint}/{id}`. */
  async registerInstance(endpoint: string, record: InstanceRecord): Promise<Lease> {
    const key = instanceKey({
      namespace: this.namespace,
      component: this.component,
      endpoint,
      instanceId: this.instanceId,
    });
    const lease = await this.register(key, record);
    this.registered = true;
    this.options.log.info("registered", { key, address: record.address });
    return lease;
  }

  /** Runs the stop actions in reverse order, once; an action that fails is logged and the rest still run. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.drainingNow = true;
      let firstError: unknown;
      for (const action of this.stops.splice(0).reverse()) {
        try {
          await action.run();
        } catch (error) {
          firstError ??= error;
          this.options.log.error("stop action failed", { action: action.name, error: String(error) });
        }
      }
      if (firstError !== undefined) throw firstError;
    })();
    return this.stopping;
  }

  private onDiscoveryStatus(event: DiscoveryStatusEvent): void {
    // Closing the planes on stop disconnects them: not an outage.
    if (this.drainingNow) return;
    this.planeStatus.record(event);
    const log = this.options.log;
    const backend = this.options.runtime.discovery.backend;
    if (event.type === "disconnected") log.warn("discovery disconnected", { backend, reason: event.reason });
    else if (event.type === "reconnected") log.info("discovery reconnected", { backend });
    else if (event.type === "reregistered")
      log.info("discovery entries re-registered", { backend, entries: event.entries });
    else if (event.type === "heartbeat_failed")
      log.warn("discovery heartbeat failed", { backend, reason: event.reason });
    else log.info("discovery heartbeat recovered", { backend });
  }

  private hosted(bindHost: string, port: number, scheme = "http"): HostedServer {
    return {
      url: httpUrl(this.advertise(bindHost), port, scheme),
      localUrl: httpUrl(localHost(bindHost), port, scheme),
      port,
      transport: scheme === "https" ? "connect-h2" : "connect-h2c",
    };
  }
}

/**
 * Opens a host, runs `body` on it, and returns what body returns. If body throws, everything started so far is
 * stopped (in reverse order) before the error is rethrown: a failed start leaks nothing.
 */
export async function startComponent<T>(
  options: ComponentHostOptions,
  body: (host: ComponentHost) => Promise<T>,
): Promise<T> {
  const host = await ComponentHost.open(options);
  try {
    return await body(host);
  } catch (error) {
    await host.stop().catch(() => {});
    throw error;
  }
}
