// Flags and settings that lock down each plane: TLS and a shared token on the Connect plane, credentials and TLS
// for NATS and etcd. Env names are Dynamo's where Dynamo has them (NATS_AUTH_*, NATS_TLS_*, ETCD_AUTH_*,
// DYN_TLS_*), KVASIR_* otherwise. Passwords belong in the environment: a command line is visible in `ps`.
import { defineFlags, FlagError, type FlagValues } from "./flags.js";
import type { ClientOptions } from "./rpc/client.js";

/** TLS and the service token of the Connect plane, taken by every app. */
export const connectSecurityFlags = defineFlags({
  "tls-cert-path": {
    type: "string",
    env: "DYN_TLS_CERT_PATH",
    help: "Certificate (PEM) this process serves Connect with (and the frontend its HTTP API); TLS is on when given with --tls-key-path",
    dynamo: true,
    differs:
      "Dynamo's secures the frontend's HTTP API; Kvasir's also secures every app's Connect server (registered as https://)",
  },
  "tls-key-path": {
    type: "string",
    env: "DYN_TLS_KEY_PATH",
    help: "Private key (PEM) of --tls-cert-path",
    dynamo: true,
  },
  "tls-ca-path": {
    type: "string",
    env: "KVASIR_TLS_CA_PATH",
    help: "CA certificate (PEM) that verifies the https servers this process dials (workers, routers, indexers); the system CAs when unset",
  },
  "tls-client-ca-cert-path": {
    type: "string",
    env: "KVASIR_TLS_CLIENT_CA_CERT_PATH",
    help: "CA certificate (PEM) that must have signed every client's certificate: mutual TLS (needs --tls-cert-path)",
    dynamo: true,
    differs:
      "Dynamo's verifies clients of the frontend's HTTP API; Kvasir's verifies Connect and HTTP clients alike",
  },
  "tls-client-cert-path": {
    type: "string",
    env: "KVASIR_TLS_CLIENT_CERT_PATH",
    help: "Certificate (PEM) presented to the servers this process dials, for mutual TLS (default: --tls-cert-path)",
  },
  "tls-client-key-path": {
    type: "string",
    env: "KVASIR_TLS_CLIENT_KEY_PATH",
    help: "Private key (PEM) of --tls-client-cert-path (default: --tls-key-path)",
  },
  "service-token": {
    type: "string",
    env: "KVASIR_SERVICE_TOKEN",
    help: "Shared secret every internal Connect call carries and every Connect server requires (UNAUTHENTICATED without it)",
  },
});

/** NATS credentials and TLS; user and password may also come in the --nats-server URL (nats://user:pass@host). */
export const natsSecurityFlags = defineFlags({
  "nats-auth-username": {
    type: "string",
    env: "NATS_AUTH_USERNAME",
    help: "NATS user (with --nats-auth-password)",
    dynamo: "NATS_AUTH_USERNAME (env only)",
  },
  "nats-auth-password": {
    type: "string",
    env: "NATS_AUTH_PASSWORD",
    help: "NATS password (prefer the variable: a command line is visible to other users)",
    dynamo: "NATS_AUTH_PASSWORD (env only)",
  },
  "nats-auth-token": {
    type: "string",
    env: "NATS_AUTH_TOKEN",
    help: "NATS token",
    dynamo: "NATS_AUTH_TOKEN (env only)",
  },
  "nats-auth-nkey": {
    type: "string",
    env: "NATS_AUTH_NKEY",
    help: "NATS NKey seed (SU...)",
    dynamo: "NATS_AUTH_NKEY (env only)",
  },
  "nats-auth-credentials-file": {
    type: "string",
    env: "NATS_AUTH_CREDENTIALS_FILE",
    help: "NATS credentials file (JWT and NKey seed, as `nsc` writes it)",
    dynamo: "NATS_AUTH_CREDENTIALS_FILE (env only)",
  },
  "nats-tls-ca-cert-path": {
    type: "string",
    env: "NATS_TLS_CA_CERT_PATH",
    help: "CA certificate (PEM) that verifies the NATS server; turns TLS on",
    dynamo: "NATS_TLS_CA_CERT_PATH (env only)",
  },
  "nats-tls-client-cert-path": {
    type: "string",
    env: "NATS_TLS_CLIENT_CERT_PATH",
    help: "Client certificate (PEM) for NATS mutual TLS (with --nats-tls-client-key-path)",
    dynamo: "NATS_TLS_CLIENT_CERT_PATH (env only)",
  },
  "nats-tls-client-key-path": {
    type: "string",
    env: "NATS_TLS_CLIENT_KEY_PATH",
    help: "Client key (PEM) for NATS mutual TLS",
    dynamo: "NATS_TLS_CLIENT_KEY_PATH (env only)",
  },
});

/** etcd credentials and TLS (the etcd discovery backend). */
export const etcdSecurityFlags = defineFlags({
  "etcd-auth-username": {
    type: "string",
    env: "ETCD_AUTH_USERNAME",
    help: "etcd user (with --etcd-auth-password)",
    dynamo: "ETCD_AUTH_USERNAME (env only)",
  },
  "etcd-auth-password": {
    type: "string",
    env: "ETCD_AUTH_PASSWORD",
    help: "etcd password (prefer the variable)",
    dynamo: "ETCD_AUTH_PASSWORD (env only)",
  },
  "etcd-auth-ca": {
    type: "string",
    env: "ETCD_AUTH_CA",
    help: "CA certificate (PEM) that verifies etcd (use https:// endpoints)",
    dynamo: "ETCD_AUTH_CA (env only)",
  },
  "etcd-auth-client-cert": {
    type: "string",
    env: "ETCD_AUTH_CLIENT_CERT",
    help: "Client certificate (PEM) for etcd mutual TLS",
    dynamo: "ETCD_AUTH_CLIENT_CERT (env only)",
  },
  "etcd-auth-client-key": {
    type: "string",
    env: "ETCD_AUTH_CLIENT_KEY",
    help: "Client key (PEM) for etcd mutual TLS",
    dynamo: "ETCD_AUTH_CLIENT_KEY (env only)",
  },
});

/** Server side of the Connect plane's TLS. */
export interface ServerTls {
  certPath: string;
  keyPath: string;
  /** Clients must present a certificate signed by this CA (mutual TLS). */
  clientCaPath?: string;
}

/** How this process serves and dials the Connect plane. */
export interface ConnectSecurity {
  /** Serve over TLS (https:// addresses) when set. */
  tls?: ServerTls;
  /** CA verifying the servers dialled. */
  caPath?: string;
  /** Client certificate and key presented when dialling. */
  clientCertPath?: string;
  clientKeyPath?: string;
  /** Shared token sent on every call and required by every server. */
  serviceToken?: string;
}

/** The client side of `connect`: what the Connect clients of a process present and verify. */
export function connectClientOptions(connect: ConnectSecurity = {}): ClientOptions {
  return {
    ...(connect.caPath ? { caPath: connect.caPath } : {}),
    ...(connect.clientCertPath && connect.clientKeyPath
      ? { certPath: connect.clientCertPath, keyPath: connect.clientKeyPath }
      : {}),
    ...(connect.serviceToken ? { serviceToken: connect.serviceToken } : {}),
  };
}

export interface NatsAuth {
  user?: string;
  password?: string;
  token?: string;
  nkeySeed?: string;
  credsFile?: string;
  tlsCaPath?: string;
  tlsCertPath?: string;
  tlsKeyPath?: string;
}

export interface EtcdAuth {
  user?: string;
  password?: string;
  caPath?: string;
  certPath?: string;
  keyPath?: string;
}

function pair(a: string | undefined, b: string | undefined, names: [string, string]): void {
  if ((a === undefined) !== (b === undefined))
    throw new FlagError(`--${names[0]} and --${names[1]} go together; only one is given`);
}

/** Drops absent and empty fields, so a config carries only what was set. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== "")) as T;
}

export function connectSecurityFromFlags(values: FlagValues): ConnectSecurity {
  const f = connectSecurityFlags.read(values);
  const cert = f["tls-cert-path"] || undefined;
  const key = f["tls-key-path"] || undefined;
  pair(cert, key, ["tls-cert-path", "tls-key-path"]);
  const clientCa = f["tls-client-ca-cert-path"] || undefined;
  if (clientCa && !cert)
    throw new FlagError("--tls-client-ca-cert-path needs --tls-cert-path and --tls-key-path");
  const clientCert = f["tls-client-cert-path"] || cert;
  const clientKey = f["tls-client-key-path"] || key;
  pair(f["tls-client-cert-path"] || undefined, f["tls-client-key-path"] || undefined, [
    "tls-client-cert-path",
    "tls-client-key-path",
  ]);
  const security: ConnectSecurity = compact({
    caPath: f["tls-ca-path"],
    clientCertPath: clientCert,
    clientKeyPath: clientKey,
    serviceToken: f["service-token"],
  });
  if (cert && key) security.tls = compact({ certPath: cert, keyPath: key, clientCaPath: clientCa });
  return security;
}

export function natsAuthFromFlags(values: FlagValues): NatsAuth | undefined {
  const f = natsSecurityFlags.read(values);
  pair(f["nats-auth-username"], f["nats-auth-password"], ["nats-auth-username", "nats-auth-password"]);
  pair(f["nats-tls-client-cert-path"], f["nats-tls-client-key-path"], [
    "nats-tls-client-cert-path",
    "nats-tls-client-key-path",
  ]);
  const auth = compact<NatsAuth>({
    user: f["nats-auth-username"],
    password: f["nats-auth-password"],
    token: f["nats-auth-token"],
    nkeySeed: f["nats-auth-nkey"],
    credsFile: f["nats-auth-credentials-file"],
    tlsCaPath: f["nats-tls-ca-cert-path"],
    tlsCertPath: f["nats-tls-client-cert-path"],
    tlsKeyPath: f["nats-tls-client-key-path"],
  });
  return Object.keys(auth).length > 0 ? auth : undefined;
}

export function etcdAuthFromFlags(values: FlagValues): EtcdAuth | undefined {
  const f = etcdSecurityFlags.read(values);
  pair(f["etcd-auth-username"], f["etcd-auth-password"], ["etcd-auth-username", "etcd-auth-password"]);
  pair(f["etcd-auth-client-cert"], f["etcd-auth-client-key"], [
    "etcd-auth-client-cert",
    "etcd-auth-client-key",
  ]);
  const auth = compact<EtcdAuth>({
    user: f["etcd-auth-username"],
    password: f["etcd-auth-password"],
    caPath: f["etcd-auth-ca"],
    certPath: f["etcd-auth-client-cert"],
    keyPath: f["etcd-auth-client-key"],
  });
  return Object.keys(auth).length > 0 ? auth : undefined;
}
