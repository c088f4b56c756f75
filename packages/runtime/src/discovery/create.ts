import { DEFAULT_DISCOVERY_BUCKET, DEFAULT_DISCOVERY_TTL_SECONDS, defaultDiscoveryFile } from "../config.js";
import { EtcdDiscovery } from "./etcd.js";
import { DEFAULT_ETCD_ENDPOINTS } from "./etcd-endpoints.js";
import { FileDiscovery } from "./file.js";
import { MemoryDiscovery } from "./memory.js";
import { NatsDiscovery } from "./nats.js";
import type { Discovery, DiscoveryOptions } from "./types.js";

/** Opens the configured discovery backend. */
export async function createDiscovery(options: DiscoveryOptions): Promise<Discovery> {
  const ttlMs = options.ttlMs ?? DEFAULT_DISCOVERY_TTL_SECONDS * 1000;
  if (!(ttlMs > 0)) throw new Error(`discovery ttlMs must be positive, got ${ttlMs}`);
  switch (options.backend) {
    case "memory":
      return new MemoryDiscovery();
    case "file":
      return new FileDiscovery(options.filePath ?? defaultDiscoveryFile(), ttlMs);
    case "nats":
      return NatsDiscovery.open({
        bucket: options.bucket ?? DEFAULT_DISCOVERY_BUCKET,
        ttlMs,
        ...(options.natsServers === undefined ? {} : { natsServers: options.natsServers }),
        ...(options.natsAuth === undefined ? {} : { natsAuth: options.natsAuth }),
      });
    case "etcd":
      return EtcdDiscovery.open({
        endpoints: options.etcdEndpoints ?? DEFAULT_ETCD_ENDPOINTS,
        ttlMs,
        ...(options.etcdAuth === undefined ? {} : { auth: options.etcdAuth }),
      });
  }
}
