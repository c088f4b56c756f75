/** Dynamo's default, and etcd's own client port. */
export const DEFAULT_ETCD_ENDPOINTS = "http://127.0.0.1:2379";

/** Parses ETCD_ENDPOINTS: comma-separated URLs, `http://` assumed where no scheme is given. */
export function parseEtcdEndpoints(endpoints: string): string[] {
  const hosts = endpoints
    .split(",")
    .map((host) => host.trim())
    .filter(Boolean)
    .map((host) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(host) ? host : `http://${host}`));
  if (hosts.length === 0) throw new Error("no etcd endpoints given (--etcd-endpoints, ETCD_ENDPOINTS)");
  for (const host of hosts) {
    let url: URL;
    try {
      url = new URL(host);
    } catch {
      throw new Error(`invalid etcd endpoint '${host}': expected a URL like http://127.0.0.1:2379`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:")
      throw new Error(`invalid etcd endpoint '${host}': the scheme must be http or https`);
  }
  return hosts;
}
