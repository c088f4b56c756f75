// Public surface of @kvasir/runtime: identity, flags and config, discovery, event plane, Connect RPC, lifecycle.

export { AsyncQueue } from "./async-queue.js";
export { type Command, runCommand } from "./command.js";
export {
  DEFAULT_DISCOVERY_BUCKET,
  DEFAULT_DRAIN_TIMEOUT_SECONDS,
  DEFAULT_NAMESPACE,
  DEFAULT_NATS_SERVER,
  DISCOVERY_BACKENDS,
  EVENT_PLANES,
  LOG_LEVELS,
  type LogLevel,
  type RuntimeConfig,
  runtimeConfigFromFlags,
  runtimeFlags,
} from "./config.js";
export { createDiscovery } from "./discovery/create.js";
export { DEFAULT_ETCD_ROOT, EtcdDiscovery, type EtcdDiscoveryOptions } from "./discovery/etcd.js";
export { DEFAULT_ETCD_ENDPOINTS, parseEtcdEndpoints } from "./discovery/etcd-endpoints.js";
export { type FollowedAddresses, followAddresses, followPrefix } from "./discovery/follow.js";
export type {
  Discovery,
  DiscoveryBackend,
  DiscoveryEntry,
  DiscoveryEvent,
  DiscoveryOptions,
  DiscoveryStatusEvent,
  DiscoveryWatch,
  Lease,
} from "./discovery/types.js";
export { createEventPlane } from "./event-plane/create.js";
export type {
  EventMessage,
  EventPlane,
  EventPlaneBackend,
  EventPlaneOptions,
  Subscription,
} from "./event-plane/types.js";
export {
  advertiseFlags,
  advertiseHostFromFlags,
  drainFlags,
  serverFlags,
  statusFlags,
  systemPortFromFlags,
} from "./flag-fragments.js";
export {
  defineFlags,
  envNamesOf,
  type FlagDef,
  type FlagDefs,
  FlagError,
  type FlagSet,
  type FlagSpec,
  type FlagType,
  type FlagValue,
  type FlagValues,
  type FlagValuesOf,
  formatDefault,
  formatHelp,
  HelpRequested,
  parseFlags,
  type RefusedFlag,
} from "./flags.js";
export { advertisedHost, httpUrl, isWildcardHost, localHost, primaryHostAddress } from "./host/advertise.js";
export {
  ComponentHost,
  type ComponentHostOptions,
  type HostDeps,
  type HostedServer,
  type HostLog,
  isLoopbackHost,
  type Planes,
  type ServeConnectOptions,
  type ServeStatusOptions,
  startComponent,
} from "./host/component-host.js";
export {
  formatInstanceId,
  type InstanceIdentity,
  instanceKey,
  mdcKey,
  newInstanceId,
  parseInstanceId,
  parseInstanceKey,
} from "./identity.js";
export { type LifecycleLog, runUntilSignal, type Service } from "./lifecycle.js";
export {
  type ConnectSecurity,
  connectClientOptions,
  connectSecurityFlags,
  connectSecurityFromFlags,
  type EtcdAuth,
  etcdAuthFromFlags,
  etcdSecurityFlags,
  type NatsAuth,
  natsAuthFromFlags,
  natsSecurityFlags,
  type ServerTls,
} from "./plane-security.js";
export { redactedError, redactFields, redactText, redactUrl } from "./redact.js";
export { type ClientOptions, createClient, transportFor } from "./rpc/client.js";
export { type ConnectServer, type ConnectServerOptions, startConnectServer } from "./rpc/server.js";
export {
  serviceTokenClientInterceptor,
  serviceTokenServerInterceptor,
  tokenMatches,
} from "./rpc/service-token.js";
export { type StatusServer, type StatusServerOptions, startStatusServer } from "./status-server.js";
export { kvEventsSubject, loadMetricsSubject, subjectMatches } from "./subjects.js";
