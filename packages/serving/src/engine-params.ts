// The one mapping between the serving layer's request and output types and the worker protocol
// (kvasir.worker.v1). The frontend builds a ServingRequest from an OpenAI/Anthropic request; the router's
// Generate builds one from a protobuf GenerateRequest; both reach workers through toWorkerRequest.
import {
  create,
  FinishReason,
  type GenerateRequest,
  GenerateRequestSchema,
  type GenerateResponse,
  type GenerateResponseSchema,
  type MessageInitShape,
} from "@kvasir/protocol";

/** Everything the engine needs besides the prompt: sampling and stop conditions. */
export interface EngineParams {
  maxTokens: number;
  stopTokenIds: number[];
  ignoreEos: boolean;
  minTokens: number;
  temperature?: number;
  topP?: number;
  topK?: number;
  seed?: bigint;
  /** Return each sampled token's logprob and this many alternatives (0: the sampled token's only). */
  logprobs?: number;
  /** Guided decoding (vLLM's structured_outputs): the output is JSON valid against a schema, or any JSON object. */
  structuredOutputs?: StructuredOutputs;
  /** Pool the prompt into an embedding of this many dimensions (0: the model's own) instead of generating. */
  embedding?: { dimensions: number };
}

/** vLLM's StructuredOutputsParams, the constraints Kvasir passes on: a JSON schema or any JSON object. */
export type StructuredOutputs = { json: Record<string, unknown> } | { jsonObject: true };

/** The log probability of one sampled token and the most likely tokens at its position (most likely first). */
export interface TokenLogprob {
  logprob: number;
  top: { tokenId: number; logprob: number }[];
}

/** A request on its way through the pipeline, in engine terms (token ids in, token ids out). */
export interface ServingRequest {
  requestId: string;
  /** The served model name the workers registered. */
  model: string;
  tokenIds: readonly number[];
  params: EngineParams;
  /** `nvext.agent_hints.priority`: higher runs earlier when the router queues. */
  priority: number;
  loraName?: string;
  cacheSalt?: string;
  /** The worker the caller insists on (`nvext.backend_instance_id`, router mode `direct`). */
  backendInstanceId?: bigint;
  /** Opaque key/values forwarded to the worker. */
  annotations?: Record<string, string>;
  /** Transfer parameters for a worker that continues a request prefilled elsewhere. */
  disaggParamsJson?: string;
  /** Extra headers of the worker call (request id; trace context comes from the client interceptors). */
  headers?: Record<string, string>;
}

export type EngineFinish = "stop" | "length" | "cancelled";

export interface EngineUsage {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
}

/** Where a request runs: a worker and one of its data-parallel ranks. */
export interface RouteDecision {
  instanceId: bigint;
  dpRank: number;
}

/** One step of a request's output: new token ids, and on the last step why it ended. */
export interface EngineOutput {
  tokenIds: number[];
  finishReason?: EngineFinish;
  /** Counts for the whole request so far (across migrations). */
  usage: EngineUsage;
  /** The worker (and dp rank) that produced these tokens. */
  worker: RouteDecision;
  /** The worker that prefilled the prompt, when that was another one (disaggregated serving). */
  prefillWorker?: RouteDecision;
  /** Transfer parameters a prefill worker returns. */
  disaggParamsJson?: string;
  /** One per token of tokenIds, when the request asked for logprobs. */
  logprobs?: TokenLogprob[];
  /** The pooled prompt of an embedding request (its last output). */
  embedding?: number[];
}

const finishOf: Partial<Record<FinishReason, EngineFinish>> = {
  [FinishReason.STOP]: "stop",
  [FinishReason.LENGTH]: "length",
  [FinishReason.CANCELLED]: "cancelled",
};

const reasonOf: Record<EngineFinish, FinishReason> = {
  stop: FinishReason.STOP,
  length: FinishReason.LENGTH,
  cancelled: FinishReason.CANCELLED,
};

/**
 * The worker's GenerateRequest for `request` on `dpRank`. The prompt's ids go out pre-encoded: protobuf-es copies
 * a repeated field on `create` and encodes a packed one a varint at a time through its writer (about 1.4 ms for
 * 8,000 ids, most of a request's cost in the frontend), while one loop into a sized buffer takes a few µs. The
 * bytes are the packed `token_ids` field exactly as protobuf-es writes it, carried as an unknown field (written
 * after the known ones: field order does not matter on the wire), so the worker decodes `tokenIds` as before.
 */
export function toWorkerRequest(request: ServingRequest, dpRank: number): GenerateRequest {
  const { params } = request;
  const message = create(GenerateRequestSchema, {
    requestId: request.requestId,
    model: request.model,
    sampling: {
      ...(params.temperature !== undefined ? { temperature: params.temperature } : {}),
      ...(params.topP !== undefined ? { topP: params.topP } : {}),
      ...(params.topK !== undefined ? { topK: params.topK } : {}),
      ...(params.seed !== undefined ? { seed: params.seed } : {}),
      ...(params.logprobs !== undefined ? { logprobs: params.logprobs } : {}),
      ...(params.structuredOutputs ? { structuredOutputs: toWireStructured(params.structuredOutputs) } : {}),
    },
    ...(params.embedding ? { embedding: params.embedding } : {}),
    stop: {
      maxTokens: params.maxTokens,
      stopTokenIds: params.stopTokenIds,
      ignoreEos: params.ignoreEos,
      minTokens: params.minTokens,
    },
    priority: request.priority,
    loraName: request.loraName ?? "",
    cacheSalt: request.cacheSalt ?? "",
    annotations: request.annotations ?? {},
    disaggParamsJson: request.disaggParamsJson ?? "",
    dpRank,
  });
  if (request.tokenIds.length > 0)
    message.$unknown = [
      { no: TOKEN_IDS_FIELD, wireType: LENGTH_DELIMITED, data: packedUint32(request.tokenIds) },
    ];
  return message;
}

/** `token_ids`' field number in kvasir.worker.v1.GenerateRequest. */
const TOKEN_IDS_FIELD = 3;
/** Protobuf's wire type of packed repeated fields (WireType.LengthDelimited). */
const LENGTH_DELIMITED = 2;

/**
 * A packed repeated uint32 field's value: its byte length as a varint, then each value as a varint. Refuses what
 * protobuf-es would refuse for a uint32 (negative, fractional, above 2^32-1). One pass into a buffer sized for
 * the worst case (5 bytes a value), the length written last into the room left in front.
 */
export function packedUint32(values: readonly number[]): Uint8Array {
  const out = new Uint8Array(5 + 5 * values.length);
  let at = 5;
  for (let i = 0; i < values.length; i++) {
    let v = values[i] ?? 0;
    if (v >>> 0 !== v) throw new Error(`invalid uint32: ${values[i]}`);
    while (v > 0x7f) {
      out[at++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    out[at++] = v;
  }
  let size = at - 5;
  const start = 5 - (size < 0x80 ? 1 : size < 0x4000 ? 2 : size < 0x200000 ? 3 : size < 0x10000000 ? 4 : 5);
  let head = start;
  while (size > 0x7f) {
    out[head++] = (size & 0x7f) | 0x80;
    size >>>= 7;
  }
  out[head] = size;
  return out.subarray(start, at);
}

/** A ServingRequest from a protobuf GenerateRequest (the router's Generate). */
export function fromWorkerRequest(message: GenerateRequest, requestId: string): ServingRequest {
  const sampling = message.sampling;
  const stop = message.stop;
  const params: EngineParams = {
    maxTokens: stop?.maxTokens ?? 0,
    stopTokenIds: [...(stop?.stopTokenIds ?? [])],
    ignoreEos: stop?.ignoreEos ?? false,
    minTokens: stop?.minTokens ?? 0,
  };
  if (sampling?.temperature !== undefined) params.temperature = sampling.temperature;
  if (sampling?.topP !== undefined) params.topP = sampling.topP;
  if (sampling?.topK !== undefined) params.topK = sampling.topK;
  if (sampling?.seed !== undefined) params.seed = sampling.seed;
  if (sampling?.logprobs !== undefined) params.logprobs = sampling.logprobs;
  const structured = sampling?.structuredOutputs?.constraint;
  if (structured?.case === "json") params.structuredOutputs = { json: JSON.parse(structured.value) };
  else if (structured?.case === "jsonObject" && structured.value)
    params.structuredOutputs = { jsonObject: true };
  if (message.embedding) params.embedding = { dimensions: message.embedding.dimensions };
  const request: ServingRequest = {
    requestId,
    model: message.model,
    tokenIds: message.tokenIds,
    params,
    priority: message.priority,
    annotations: { ...message.annotations },
  };
  if (message.loraName) request.loraName = message.loraName;
  if (message.cacheSalt) request.cacheSalt = message.cacheSalt;
  if (message.disaggParamsJson) request.disaggParamsJson = message.disaggParamsJson;
  return request;
}

function toWireStructured(constraint: StructuredOutputs) {
  return {
    constraint:
      "json" in constraint
        ? { case: "json" as const, value: JSON.stringify(constraint.json) }
        : { case: "jsonObject" as const, value: true },
  };
}

/** Logprobs of a worker response, one per token; undefined when it carries none. */
export function logprobsOfResponse(response: GenerateResponse): TokenLogprob[] | undefined {
  if (response.logprobs.length === 0) return undefined;
  return response.logprobs.map((entry) => ({
    logprob: entry.logprob,
    top: entry.topTokenIds.map((tokenId, i) => ({ tokenId, logprob: entry.topLogprobs[i] ?? 0 })),
  }));
}

function toWireLogprobs(logprobs: TokenLogprob[]) {
  return logprobs.map((entry) => ({
    logprob: entry.logprob,
    topTokenIds: entry.top.map((t) => t.tokenId),
    topLogprobs: entry.top.map((t) => t.logprob),
  }));
}

/** The finish reason of a worker response; undefined while the request runs. */
export function finishOfResponse(response: GenerateResponse): EngineFinish | undefined {
  return finishOf[response.finishReason];
}

/** A worker GenerateResponse carrying `output` (the router's Generate streams these back). */
export function toWorkerResponse(output: EngineOutput): MessageInitShape<typeof GenerateResponseSchema> {
  return {
    tokenIds: output.tokenIds,
    finishReason: output.finishReason ? reasonOf[output.finishReason] : FinishReason.UNSPECIFIED,
    usage: output.usage,
    disaggParamsJson: output.disaggParamsJson ?? "",
    ...(output.logprobs ? { logprobs: toWireLogprobs(output.logprobs) } : {}),
    ...(output.embedding ? { embedding: output.embedding } : {}),
  };
}
