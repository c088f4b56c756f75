import { randomBytes } from "node:crypto";

/** Where an instance lives: `namespace / component / endpoint / instance_id`, as in Dynamo. */
export interface InstanceIdentity {
  namespace: string;
  component: string;
  endpoint: string;
  instanceId: bigint;
}

const U64_MAX = (1n << 64n) - 1n;

/** A random non-zero u64 (zero is left free to mean "no instance"). */
export function newInstanceId(): bigint {
  for (;;) {
    const id = randomBytes(8).readBigUInt64BE();
    if (id !== 0n) return id;
  }
}

/** 16 lowercase hex characters, zero-padded. */
export function formatInstanceId(id: bigint): string {
  if (id < 0n || id > U64_MAX) throw new RangeError(`instance id out of u64 range: ${id}`);
  return id.toString(16).padStart(16, "0");
}

/** Inverse of formatInstanceId; accepts 1 to 16 hex digits in either case. */
export function parseInstanceId(text: string): bigint {
  if (!/^[0-9a-fA-F]{1,16}$/.test(text)) throw new Error(`not an instance id (1-16 hex digits): '${text}'`);
  return BigInt(`0x${text}`);
}

/** Discovery key of an instance: `v1/instances/{ns}/{component}/{endpoint}/{idhex}`. */
export function instanceKey(identity: InstanceIdentity): string {
  const { namespace, component, endpoint, instanceId } = identity;
  return `v1/instances/${namespace}/${component}/${endpoint}/${formatInstanceId(instanceId)}`;
}

/** Inverse of instanceKey; undefined for a key of another shape. */
export function parseInstanceKey(key: string): InstanceIdentity | undefined {
  const parts = key.split("/");
  const [v1, kind, namespace, component, endpoint, id] = parts;
  if (
    parts.length !== 6 ||
    v1 !== "v1" ||
    kind !== "instances" ||
    !namespace ||
    !component ||
    !endpoint ||
    !id
  ) {
    return undefined;
  }
  if (!/^[0-9a-fA-F]{1,16}$/.test(id)) return undefined;
  return { namespace, component, endpoint, instanceId: BigInt(`0x${id}`) };
}

/** Discovery key of a Model Deployment Card: `v1/mdc/{ns}/{model}/{idhex}`. */
export function mdcKey(namespace: string, model: string, instanceId: bigint): string {
  return `v1/mdc/${namespace}/${model}/${formatInstanceId(instanceId)}`;
}
