import { DEFAULT_KV_BLOCK_SIZE, type KvRouterSettings } from "@kvasir/kv";
import {
  advertiseFlags,
  advertiseHostFromFlags,
  defineFlags,
  drainFlags,
  FlagError,
  type FlagValues,
  type RuntimeConfig,
  runtimeConfigFromFlags,
  runtimeFlags,
  serverFlags,
  statusFlags,
  systemPortFromFlags,
} from "@kvasir/runtime";
import {
  disaggregationFlags,
  kvRouterFlags,
  kvRouterSettingsFromFlags,
  WORKER_COMPONENTS,
  type WorkerComponent,
} from "@kvasir/serving";

export interface RouterConfig {
  runtime: RuntimeConfig;
  router: KvRouterSettings;
  /** Tokens per KV block; each worker's card when undefined. */
  blockSize?: number;
  /** Component whose pool BestWorker and the bookings answer for. */
  workerComponent: WorkerComponent;
  /** Conditional disaggregation in Generate (`--max-local-prefill-length`). */
  maxLocalPrefillLength: number;
  /** Longest a booking lives without a free (`--router-booking-lease-secs`). */
  bookingLeaseSeconds: number;
  host: string;
  port: number;
  /** Port of the status server (/health, /live, /metrics); none when undefined. */
  systemPort?: number;
  drainTimeoutSeconds: number;
  /** Address registered in discovery for peers to reach this process (`--advertise-host`); a wildcard bind advertises the host's primary address when undefined. */
  advertiseHost?: string;
  /** Given by tests; random otherwise. */
  instanceId?: bigint;
}

/** `kvasir router`'s flags: the runtime's, server, status, drain, advertise, its own and the KV router's. */
export const routerFlags = defineFlags(
  {
    ...runtimeFlags.defs,
    ...serverFlags.defs,
    ...statusFlags.defs,
    ...advertiseFlags.defs,
    ...drainFlags.defs,
    "kv-cache-block-size": {
      type: "number",
      integer: true,
      positive: true,
      env: ["DYN_KV_CACHE_BLOCK_SIZE", "DYN_ROUTER_BLOCK_SIZE"],
      aliases: ["router-block-size"],
      help: `Tokens per KV block (default: each worker's model card, else ${DEFAULT_KV_BLOCK_SIZE})`,
      dynamo: "--router-block-size (dynamo.router), --kv-cache-block-size (dynamo.frontend)",
    },
    "worker-component": {
      type: "string",
      default: "backend",
      choices: WORKER_COMPONENTS,
      help: "Component whose pool BestWorker, PotentialLoads and bookings answer for (Generate routes every pool)",
    },
    endpoint: {
      type: "string",
      help: "Workers' endpoint as namespace.component.generate; sets --namespace and --worker-component",
      dynamo: true,
    },
    ...kvRouterFlags.defs,
    ...disaggregationFlags.defs,
    "router-booking-lease-secs": {
      type: "number",
      default: 600,
      positive: true,
      help: "Seconds a booking (BestWorker with update_states, or Generate) lives unless freed first; callers may ask for less",
    },
  },
  kvRouterFlags.refused,
);

/** Dynamo's `namespace.component.endpoint`; Kvasir's workers serve one endpoint, `generate`. */
function parseEndpoint(text: string): { namespace: string; component: WorkerComponent } {
  const parts = text.replace(/^dyn:\/\//, "").split(".");
  const [namespace, name, endpoint] = parts;
  const component = WORKER_COMPONENTS.find((c) => c === name);
  if (parts.length !== 3 || !namespace || !component || endpoint !== "generate")
    throw new FlagError(
      `--endpoint must be namespace.component.generate with component ${WORKER_COMPONENTS.join(", ")}; got '${text}'`,
    );
  return { namespace, component };
}

export function routerConfigFromFlags(values: FlagValues): RouterConfig {
  const flags = routerFlags.read(values);
  const runtime = runtimeConfigFromFlags(values);
  let workerComponent = flags["worker-component"];
  if (flags.endpoint !== undefined) {
    const target = parseEndpoint(flags.endpoint);
    runtime.namespace = target.namespace;
    workerComponent = target.component;
  }
  const config: RouterConfig = {
    runtime,
    router: kvRouterSettingsFromFlags(flags),
    workerComponent,
    maxLocalPrefillLength: flags["max-local-prefill-length"],
    bookingLeaseSeconds: flags["router-booking-lease-secs"],
    host: flags.host,
    port: flags.port,
    drainTimeoutSeconds: flags["drain-timeout"],
  };
  if (flags["kv-cache-block-size"] !== undefined) config.blockSize = flags["kv-cache-block-size"];
  const systemPort = systemPortFromFlags(values);
  if (systemPort !== undefined) config.systemPort = systemPort;
  const advertiseHost = advertiseHostFromFlags(values);
  if (advertiseHost) config.advertiseHost = advertiseHost;
  return config;
}
