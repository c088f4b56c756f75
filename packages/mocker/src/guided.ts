// Guided decoding for the mocker: where a real engine masks logits with a grammar compiled from a JSON schema, the
// mocker picks a whole value valid against the schema up front (json-schema-faker, seeded by the request) and emits
// its text. The text becomes token ids outside this package (the worker has the tokenizer), so no I/O happens here.
import { generateSync, type JsonSchema } from "json-schema-faker";

/** vLLM's structured_outputs constraints the mocker honours. */
export type GuidedConstraint = { json: Record<string, unknown> } | { jsonObject: true };

// What `json_object` produces: some object, as a model asked for JSON tends to answer.
const ANY_OBJECT: JsonSchema = {
  type: "object",
  properties: { answer: { type: "string", minLength: 1, maxLength: 24 } },
  required: ["answer"],
};

/**
 * JSON text valid against the constraint, the same for the same seed. Throws when the schema cannot be generated
 * from (the frontend validates schemas first, so this is a caller's bug or an exotic keyword).
 */
export function guidedJson(constraint: GuidedConstraint, seed: bigint): string {
  const schema: JsonSchema = "json" in constraint ? constraint.json : ANY_OBJECT;
  // json-schema-faker's PRNG takes a 32-bit seed.
  const value = generateSync(schema, { seed: Number(BigInt.asUintN(32, seed)) });
  return JSON.stringify(value);
}
