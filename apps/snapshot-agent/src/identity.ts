// The checkpoint id: two engines that would start identically share one checkpoint (DESIGN §8, Dynamo's legacy
// checkpoint identity). Replica counts, placement, resources and logging are not part of it.
import { createHash } from "node:crypto";
import type { CheckpointIdentity } from "@kvasir/protocol";

/** Identity fields as plain values, unset ones at their defaults (tensor and pipeline parallel sizes are 1). */
export interface IdentityFields {
  model: string;
  backend: string;
  backendVersion: string;
  tensorParallelSize: number;
  pipelineParallelSize: number;
  dtype: string;
  maxModelLen: number;
  extraParameters: Record<string, string>;
}

export class IdentityError extends Error {}

/** The identity with its defaults applied; rejects an identity without a model or backend. */
export function identityFields(identity: Omit<CheckpointIdentity, "$typeName" | "$unknown">): IdentityFields {
  const model = identity.model.trim();
  const backend = identity.backend.trim().toLowerCase();
  if (!model) throw new IdentityError("checkpoint identity needs a model");
  if (!backend) throw new IdentityError("checkpoint identity needs a backend (vllm, sglang or mocker)");
  return {
    model,
    backend,
    backendVersion: identity.backendVersion.trim(),
    tensorParallelSize: identity.tensorParallelSize || 1,
    pipelineParallelSize: identity.pipelineParallelSize || 1,
    dtype: identity.dtype.trim().toLowerCase(),
    maxModelLen: identity.maxModelLen,
    extraParameters: { ...identity.extraParameters },
  };
}

/**
 * The canonical text hashed into the id: a JSON object with keys in a fixed order and extra parameters sorted by
 * key, so that the same identity gives the same bytes whatever order its parts arrived in.
 */
export function canonicalIdentity(fields: IdentityFields): string {
  const extra = Object.keys(fields.extraParameters)
    .sort()
    .map((key) => [key, fields.extraParameters[key]]);
  return JSON.stringify([
    ["model", fields.model],
    ["backend", fields.backend],
    ["backend_version", fields.backendVersion],
    ["tensor_parallel_size", fields.tensorParallelSize],
    ["pipeline_parallel_size", fields.pipelineParallelSize],
    ["dtype", fields.dtype],
    ["max_model_len", fields.maxModelLen],
    ["extra_parameters", extra],
  ]);
}

/** First 16 hex characters (64 bits) of SHA-256 over the canonical identity. */
export function checkpointId(fields: IdentityFields): string {
  return createHash("sha256").update(canonicalIdentity(fields)).digest("hex").slice(0, 16);
}

const ID_PATTERN = /^[0-9a-f]{16}$/;

/** A checkpoint id names a directory on shared storage: only the hash's own shape is accepted. */
export function isCheckpointId(id: string): boolean {
  return ID_PATTERN.test(id);
}
