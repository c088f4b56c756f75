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

/** Largest count a schema may ask of the mocker (minItems, minLength, minProperties, a pattern's {n}). */
export const GUIDED_LIMIT = 4096;

/**
 * Refuses a schema whose smallest valid value is too large to generate: a real engine would run into max_tokens
 * token by token, but the mocker builds the whole value up front and must not be made to build a huge one.
 */
function checkBounded(node: unknown, path = "schema"): void {
  if (Array.isArray(node)) {
    node.forEach((item, i) => {
      checkBounded(item, `${path}[${i}]`);
    });
    return;
  }
  if (typeof node !== "object" || node === null) return;
  for (const [key, value] of Object.entries(node)) {
    const tooMany =
      (key === "minItems" || key === "minLength" || key === "minProperties" || key === "minContains") &&
      typeof value === "number" &&
      value > GUIDED_LIMIT;
    const repeats = key === "pattern" && typeof value === "string" ? value.match(/\{(\d+)/g) : null;
    const bigRepeat = repeats?.some((r) => Number(r.slice(1)) > GUIDED_LIMIT) ?? false;
    if (tooMany || bigRepeat) throw new RangeError(`${path}.${key} asks for more than ${GUIDED_LIMIT}`);
    checkBounded(value, `${path}.${key}`);
  }
}

/**
 * JSON text valid against the constraint, the same for the same seed. Throws when the schema cannot be generated
 * from (the frontend validates schemas first, so this is a caller's bug or an exotic keyword).
 */
export function guidedJson(constraint: GuidedConstraint, seed: bigint): string {
  const schema: JsonSchema = "json" in constraint ? constraint.json : ANY_OBJECT;
  checkBounded(schema);
  // json-schema-faker's PRNG takes a 32-bit seed.
  const value = generateSync(schema, { seed: Number(BigInt.asUintN(32, seed)) });
  return JSON.stringify(value);
}
