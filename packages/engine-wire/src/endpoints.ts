// Endpoint rules of vLLM's ZMQ KV event publisher, which a publisher and its subscribers must agree on.

/** vLLM's `offset_endpoint_port`: each data-parallel rank publishes on its own endpoint. */
export function offsetEndpoint(endpoint: string, rank: number): string {
  if (rank === 0) return endpoint;
  if (endpoint.startsWith("inproc://") || endpoint.startsWith("ipc://")) return `${endpoint}_dp${rank}`;
  const match = /^(tcp:\/\/.*):(\d+)$/.exec(endpoint);
  if (!match) return endpoint;
  const port = Number(match[2]);
  // Port 0 asks the OS for a free port per socket, so there is nothing to offset.
  return port === 0 ? endpoint : `${match[1]}:${port + rank}`;
}

/**
 * Whether a publisher binds: vLLM binds wildcard and local-transport endpoints and connects to anything else (a
 * listening consumer). Port 0 also binds: it only means "any free port", which only a bind can take.
 */
export function publisherBinds(endpoint: string): boolean {
  return (
    endpoint.includes("*") ||
    endpoint.includes("::") ||
    endpoint.startsWith("ipc://") ||
    endpoint.startsWith("inproc://") ||
    endpoint.endsWith(":0")
  );
}

/**
 * The subscriber side of the rule: a consumer binds when the endpoint is a wildcard (the llm-d layout, where
 * engines connect in) and connects otherwise. `ipc://` and `inproc://` endpoints are bound by the publisher, so
 * a subscriber connects to them.
 */
export function subscriberBinds(endpoint: string): boolean {
  return endpoint.includes("*") || endpoint.includes("::");
}
