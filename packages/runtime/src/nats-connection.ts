import { readFileSync } from "node:fs";
import {
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  type NatsConnection,
  nkeyAuthenticator,
} from "nats";
import { DEFAULT_NATS_SERVER } from "./config.js";
import type { NatsAuth } from "./plane-security.js";
import { redactText, redactUrl } from "./redact.js";

/** Connection options for `servers` (comma-separated URLs, userinfo allowed) and `auth`; throws on bad input. */
export function natsConnectionOptions(
  servers: string | undefined,
  name: string,
  auth: NatsAuth = {},
): ConnectionOptions {
  const list: string[] = [];
  let fromUrl: { user?: string; pass?: string; token?: string } = {};
  for (const raw of (servers ?? DEFAULT_NATS_SERVER).split(",")) {
    const server = raw.trim();
    if (!server) continue;
    // nats.js takes the server list without userinfo: take it off each URL and pass it as options.
    const at = server.lastIndexOf("@");
    const schemeEnd = server.indexOf("://");
    if (at > schemeEnd && at !== -1) {
      const userinfo = server.slice(schemeEnd === -1 ? 0 : schemeEnd + 3, at);
      const colon = userinfo.indexOf(":");
      const decode = (s: string) => decodeURIComponent(s);
      if (colon === -1) fromUrl = { token: decode(userinfo) };
      else fromUrl = { user: decode(userinfo.slice(0, colon)), pass: decode(userinfo.slice(colon + 1)) };
      list.push(`${schemeEnd === -1 ? "" : server.slice(0, schemeEnd + 3)}${server.slice(at + 1)}`);
    } else list.push(server);
  }
  const options: ConnectionOptions = {
    servers: list,
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
  };
  // Flags and variables come before the URL's userinfo, as the more deliberate setting.
  const user = auth.user ?? fromUrl.user;
  const pass = auth.password ?? fromUrl.pass;
  if (user !== undefined) {
    options.user = user;
    options.pass = pass ?? "";
  }
  const token = auth.token ?? fromUrl.token;
  if (token !== undefined && user === undefined) options.token = token;
  if (auth.nkeySeed !== undefined || auth.credsFile !== undefined) {
    // Loaded lazily by nats.js through an authenticator; read here so a missing file fails at start-up.
    const seed = auth.nkeySeed === undefined ? undefined : new TextEncoder().encode(auth.nkeySeed.trim());
    const creds = auth.credsFile === undefined ? undefined : readFileSync(auth.credsFile);
    options.authenticator = creds ? credsAuthenticator(creds) : nkeyAuthenticator(seed);
  }
  if (auth.tlsCaPath !== undefined || auth.tlsCertPath !== undefined) {
    options.tls = {
      ...(auth.tlsCaPath ? { caFile: auth.tlsCaPath } : {}),
      ...(auth.tlsCertPath ? { certFile: auth.tlsCertPath } : {}),
      ...(auth.tlsKeyPath ? { keyFile: auth.tlsKeyPath } : {}),
    };
  }
  return options;
}

/** Connects to NATS (comma-separated server URLs), reconnecting forever once connected. */
export async function connectNats(
  servers: string | undefined,
  name: string,
  auth?: NatsAuth,
): Promise<NatsConnection> {
  const shown = redactUrl(servers ?? DEFAULT_NATS_SERVER);
  let options: ConnectionOptions;
  try {
    options = natsConnectionOptions(servers, name, auth);
  } catch (error) {
    throw new Error(`bad NATS settings for ${shown}: ${redactText(messageOf(error), secretsOf(auth))}`);
  }
  const secrets = [...secretsOf(auth), options.pass, options.token];
  return connect(options).catch((error: unknown) => {
    const reason = redactText(messageOf(error), secrets);
    const hint = /auth/i.test(reason)
      ? "check the NATS credentials (--nats-server userinfo, NATS_AUTH_*)"
      : "is nats-server running (--nats-server)?";
    throw new Error(`cannot connect to NATS at ${shown} (${reason}); ${hint}`);
  });
}

function secretsOf(auth: NatsAuth | undefined): (string | undefined)[] {
  return [auth?.password, auth?.token, auth?.nkeySeed];
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Drains (delivering what is buffered) and closes, tolerating a connection that is already closed. */
export async function drainNats(connection: NatsConnection): Promise<void> {
  if (connection.isClosed()) return;
  await connection.drain().catch(() => connection.close());
}
