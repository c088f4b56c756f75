// Request bodies for the API fuzz: valid bodies of each generation endpoint, mutated by a seeded generator so a
// run is reproducible from (seed, endpoint, index). Used by fuzz.test.ts (CI) and `pnpm fuzz`.

export const FUZZ_MODEL = "Qwen/Qwen3-0.6B";

export const ENDPOINTS = ["/v1/chat/completions", "/v1/completions", "/v1/messages"] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

/** A deterministic PRNG (mulberry32): the same seed gives the same bodies on every machine. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const user = (content: Json): JsonObject => ({ role: "user", content });

/** Valid bodies each mutation starts from: small answers, and every field the schemas know somewhere. */
function validBodies(endpoint: Endpoint): JsonObject[] {
  const nvext = { agent_hints: { priority: 1, osl: 8 } };
  switch (endpoint) {
    case "/v1/chat/completions":
      return [
        { model: FUZZ_MODEL, messages: [user("Hi")], max_tokens: 4 },
        {
          model: FUZZ_MODEL,
          messages: [
            { role: "system", content: "Be brief." },
            user([{ type: "text", text: "Weather?" }]),
            {
              role: "assistant",
              content: null,
              tool_calls: [{ id: "c1", type: "function", function: { name: "w", arguments: '{"c":"P"}' } }],
            },
            { role: "tool", tool_call_id: "c1", content: "sunny" },
          ],
          tools: [
            { type: "function", function: { name: "w", parameters: { type: "object", properties: {} } } },
          ],
          tool_choice: "auto",
          max_completion_tokens: 3,
          temperature: 0.7,
          top_p: 0.9,
          top_k: 20,
          seed: 7,
          stop: ["\n\n"],
          stop_token_ids: [13],
          min_tokens: 1,
          nvext,
        },
        {
          model: FUZZ_MODEL,
          messages: [user("Count")],
          max_tokens: 3,
          stream: true,
          stream_options: { include_usage: true },
          ignore_eos: true,
          logprobs: false,
          chat_template_kwargs: { enable_thinking: false },
        },
      ];
    case "/v1/completions":
      return [
        { model: FUZZ_MODEL, prompt: "Once upon a time", max_tokens: 4 },
        { model: FUZZ_MODEL, prompt: [9707, 11, 1879], max_tokens: 2, echo: true, min_p: 0.1, n: 1 },
        { model: FUZZ_MODEL, prompt: ["Hello"], max_tokens: 3, stream: true, repetition_penalty: 1.1, nvext },
      ];
    case "/v1/messages":
      return [
        { model: FUZZ_MODEL, max_tokens: 4, messages: [user("Hi")] },
        {
          model: FUZZ_MODEL,
          max_tokens: 3,
          system: [{ type: "text", text: "Be brief.", cache_control: { type: "ephemeral" } }],
          messages: [
            user("Weather?"),
            { role: "assistant", content: [{ type: "tool_use", id: "t1", name: "w", input: { c: "P" } }] },
            user([{ type: "tool_result", tool_use_id: "t1", content: "sunny" }]),
          ],
          tools: [{ name: "w", input_schema: { type: "object" } }],
          tool_choice: { type: "auto" },
          temperature: 0.5,
          top_k: 5,
          stop_sequences: ["\n"],
          metadata: { user_id: "u" },
          nvext,
        },
        { model: FUZZ_MODEL, max_tokens: 3, stream: true, messages: [user([{ type: "text", text: "Go" }])] },
      ];
  }
}

/** Where a value sits in a body: its parent and key. */
interface Slot {
  parent: JsonObject | Json[];
  key: string | number;
}

function slots(value: Json, out: Slot[] = []): Slot[] {
  if (Array.isArray(value)) {
    value.forEach((child, i) => {
      out.push({ parent: value, key: i });
      slots(child, out);
    });
  } else if (value !== null && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      out.push({ parent: value, key });
      slots(child, out);
    }
  }
  return out;
}

function set(slot: Slot, value: Json): void {
  if (Array.isArray(slot.parent)) slot.parent[slot.key as number] = value;
  else slot.parent[slot.key as string] = value;
}

const HUGE = [
  2 ** 31 - 1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53,
  2 ** 63,
  2 ** 64,
  1e308,
  -1e308,
  Number.MAX_SAFE_INTEGER,
  -(2 ** 31) - 1,
  4097,
  1e-300,
];
const NEGATIVE = [-1, -2, -0.5, -(2 ** 31), -(2 ** 63), -1024];
// Number spellings JSON.stringify cannot write: spliced into the text in place of a marker string.
const RAW_NUMBERS = [
  "1e400",
  "-1e400",
  "1E+999",
  "0.0000000000000000000000001",
  "123456789012345678901234567890",
];

function randomValue(rng: Rng, depth = 0): Json {
  switch (rng.int(depth > 2 ? 5 : 7)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, 1, -1, 0.5, 42, ...HUGE]);
    case 3:
      return rng.pick(["", "x", "user", "function", "text", "auto", "\u0000", "💥", "a".repeat(rng.int(50))]);
    case 4:
      return rng.pick([[], {}]);
    case 5:
      return Array.from({ length: rng.int(4) }, () => randomValue(rng, depth + 1));
    default: {
      const out: JsonObject = {};
      for (let i = rng.int(4); i > 0; i--)
        out[rng.pick(["type", "text", "x", "role", "name"])] = randomValue(rng);
      return out;
    }
  }
}

/** JSON text nested `depth` deep (as text: JSON.stringify itself recurses and would overflow). */
function nestedText(rng: Rng, depth: number): string {
  const leaf = rng.chance(0.5) ? "1" : '"x"';
  if (rng.chance(0.5)) return `${"[".repeat(depth)}${leaf}${"]".repeat(depth)}`;
  return `${'{"a":'.repeat(depth)}${leaf}${"}".repeat(depth)}`;
}

function longString(rng: Rng): string {
  const length = rng.pick([1_000, 10_000, 50_000, 200_000]);
  const unit = rng.pick(["a", "hello world ", "日本語", "🙂", "\\n", "<|im_start|>", "\u200b"]);
  return unit.repeat(Math.ceil(length / unit.length)).slice(0, length);
}

export type Mutation =
  | "wrong_type"
  | "huge_number"
  | "negative_number"
  | "raw_number"
  | "deep_nesting"
  | "long_string"
  | "unknown_field"
  | "drop_field"
  | "truncate"
  | "invalid_utf8"
  | "not_an_object";

const STRUCTURAL: Mutation[] = [
  "wrong_type",
  "huge_number",
  "negative_number",
  "raw_number",
  "deep_nesting",
  "long_string",
  "unknown_field",
  "drop_field",
  "not_an_object",
];

export interface FuzzBody {
  endpoint: Endpoint;
  index: number;
  mutations: Mutation[];
  bytes: Uint8Array;
}

/** The body `index` of `endpoint` for `seed`: a valid body with one to three mutations. */
export function fuzzBody(seed: number, endpoint: Endpoint, index: number): FuzzBody {
  const rng = new Rng((seed * 7919 + ENDPOINTS.indexOf(endpoint) * 104_729 + index * 2_654_435_761) >>> 0);
  const base = rng.pick(validBodies(endpoint));
  let body: Json = structuredClone(base);
  // Text JSON.stringify cannot produce, put in place of marker strings after it ran.
  const raw: string[] = [];
  const rawMark = (text: string): string => {
    raw.push(text);
    return `\u0000raw${raw.length - 1}\u0000`;
  };
  const mutations: Mutation[] = [];
  const count = 1 + rng.int(3);
  for (let m = 0; m < count; m++) {
    const mutation = rng.pick(STRUCTURAL);
    mutations.push(mutation);
    const all = slots(body);
    const slot = all.length > 0 ? rng.pick(all) : undefined;
    switch (mutation) {
      case "wrong_type":
        if (slot) set(slot, randomValue(rng));
        break;
      case "huge_number":
        if (slot) set(slot, rng.pick(HUGE));
        break;
      case "negative_number":
        if (slot) set(slot, rng.pick(NEGATIVE));
        break;
      case "raw_number":
        if (slot) set(slot, rawMark(rng.pick(RAW_NUMBERS)));
        break;
      case "deep_nesting":
        if (slot) set(slot, rawMark(nestedText(rng, rng.pick([10, 100, 127, 129, 1_000, 10_000, 100_000]))));
        break;
      case "long_string":
        if (slot) set(slot, longString(rng));
        break;
      case "unknown_field": {
        const objects = [
          body,
          ...all.map((s) =>
            Array.isArray(s.parent) ? s.parent[s.key as number] : s.parent[s.key as string],
          ),
        ].filter((v): v is JsonObject => v !== null && typeof v === "object" && !Array.isArray(v));
        const target = objects.length > 0 ? rng.pick(objects) : undefined;
        if (!target) break;
        // defineProperty so that "__proto__" becomes a key of the body, not the object's prototype.
        Object.defineProperty(
          target,
          rng.pick(["__proto__", "constructor", "extra", "nvext", "x".repeat(1000), "💥"]),
          {
            value: randomValue(rng),
            enumerable: true,
            writable: true,
            configurable: true,
          },
        );
        break;
      }
      case "drop_field":
        if (slot && !Array.isArray(slot.parent)) delete slot.parent[slot.key as string];
        else if (slot && Array.isArray(slot.parent)) slot.parent.splice(slot.key as number, 1);
        break;
      case "not_an_object":
        body = rng.pick<Json>([null, [], [base], "body", 3, true]);
        break;
    }
  }
  let text = JSON.stringify(body);
  raw.forEach((spliced, i) => {
    text = text.replace(JSON.stringify(`\u0000raw${i}\u0000`), () => spliced);
  });
  let bytes: Uint8Array = new TextEncoder().encode(text);
  if (rng.chance(0.15)) {
    mutations.push("truncate");
    bytes = bytes.slice(0, rng.int(bytes.length));
  }
  if (rng.chance(0.1)) {
    mutations.push("invalid_utf8");
    const bad = rng.pick([[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80], [0xe2, 0x82]]);
    const at = rng.int(bytes.length + 1);
    bytes = new Uint8Array([...bytes.slice(0, at), ...bad, ...bytes.slice(at)]);
  }
  return { endpoint, index, mutations, bytes };
}

/** A valid request for each endpoint, to check the service still serves after the fuzz. */
export function normalBody(endpoint: Endpoint): string {
  return JSON.stringify(validBodies(endpoint)[0]);
}
