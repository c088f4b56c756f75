// Flags every component takes the same way, so that each name means one thing in every app.
import { DEFAULT_DRAIN_TIMEOUT_SECONDS } from "./config.js";
import { defineFlags, type FlagValues } from "./flags.js";

// TLS and tokens of every plane; composed into runtimeFlags, so every app takes them.
export {
  connectSecurityFlags,
  connectSecurityFromFlags,
  etcdSecurityFlags,
  natsSecurityFlags,
} from "./plane-security.js";

/** The Connect server's bind address. Apps with another default spread `serverFlags.defs` and override it. */
export const serverFlags = defineFlags({
  host: { type: "string", default: "127.0.0.1", help: "Address the Connect server binds" },
  port: {
    type: "number",
    default: 0,
    integer: true,
    min: 0,
    max: 65535,
    help: "Port of the Connect server (0 picks a free one)",
  },
});

/** The status server (/health, /live, /metrics): one name in every app. */
export const statusFlags = defineFlags({
  "system-port": {
    type: "number",
    env: "DYN_SYSTEM_PORT",
    integer: true,
    min: -1,
    max: 65535,
    help: "Port of the status server with /health, /live and /metrics (0 picks a free one; off when unset or -1)",
    dynamo: "DYN_SYSTEM_PORT (env only)",
  },
});

/** How long stop() lets in-flight work finish. */
export const drainFlags = defineFlags({
  "drain-timeout": {
    type: "number",
    default: DEFAULT_DRAIN_TIMEOUT_SECONDS,
    min: 0,
    help: "Seconds to let in-flight streams finish on SIGTERM",
  },
});

/** The address peers dial, registered in discovery; Dynamo reads it from DYN_TCP_RPC_HOST (HTTP plane: DYN_HTTP_RPC_HOST). */
export const advertiseFlags = defineFlags({
  "advertise-host": {
    type: "string",
    env: ["DYN_TCP_RPC_HOST", "DYN_HTTP_RPC_HOST"],
    help: "Host registered in discovery for peers to dial (default: the bind address; for 0.0.0.0 or :: this host's primary address)",
    dynamo: "DYN_TCP_RPC_HOST (env only)",
  },
});

/** `systemPort` for a config: undefined when the status server is off (unset, or Dynamo's -1). */
export function systemPortFromFlags(values: FlagValues): number | undefined {
  const port = statusFlags.read(values)["system-port"];
  return port === undefined || port < 0 ? undefined : port;
}

/** `advertiseHost` for a config: undefined when not given (the host derives it from the bind address). */
export function advertiseHostFromFlags(values: FlagValues): string | undefined {
  return advertiseFlags.read(values)["advertise-host"] || undefined;
}
