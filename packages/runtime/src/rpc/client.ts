import { readFileSync } from "node:fs";
import type { DescService } from "@bufbuild/protobuf";
import {
  type Client,
  createClient as createConnectClient,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { serviceTokenClientInterceptor } from "./service-token.js";

export interface ClientOptions {
  interceptors?: Interceptor[];
  /** PEM file of the CA that signed an https server's certificate (for self-signed test or cluster CAs). */
  caPath?: string;
  /** Client certificate and key (PEM files) presented to https servers that require one (mutual TLS). */
  certPath?: string;
  keyPath?: string;
  /** The shared service token, sent on every call (`--service-token`). */
  serviceToken?: string;
}

const NO_INTERCEPTORS: Interceptor[] = [];
// One transport (and so one HTTP/2 connection) per url, per interceptor list and TLS/token settings.
const transports = new WeakMap<readonly Interceptor[], Map<string, Transport>>();

/**
 * The HTTP/2 transport for `url`. It speaks gRPC: the same wire external gRPC clients use against our servers,
 * binary protobuf, status in trailers; Connect's extras (HTTP/1.1, GET) buy nothing between services.
 */
export function transportFor(url: string, options: ClientOptions = {}): Transport {
  const interceptors = options.interceptors ?? NO_INTERCEPTORS;
  let byUrl = transports.get(interceptors);
  if (!byUrl) {
    byUrl = new Map();
    transports.set(interceptors, byUrl);
  }
  const key = [url, options.caPath, options.certPath, options.keyPath, options.serviceToken].join(" ");
  let transport = byUrl.get(key);
  if (!transport) {
    const tls = url.startsWith("https:")
      ? {
          ...(options.caPath ? { ca: readFileSync(options.caPath) } : {}),
          ...(options.certPath && options.keyPath
            ? { cert: readFileSync(options.certPath), key: readFileSync(options.keyPath) }
            : {}),
        }
      : {};
    transport = createGrpcTransport({
      baseUrl: url,
      interceptors: options.serviceToken
        ? [serviceTokenClientInterceptor(options.serviceToken), ...interceptors]
        : interceptors,
      ...(Object.keys(tls).length > 0 ? { nodeOptions: tls } : {}),
    });
    byUrl.set(key, transport);
  }
  return transport;
}

/** A typed client of `service` at `url`, sharing the cached transport. */
export function createClient<T extends DescService>(
  service: T,
  url: string,
  options?: ClientOptions,
): Client<T> {
  return createConnectClient(service, transportFor(url, options));
}
