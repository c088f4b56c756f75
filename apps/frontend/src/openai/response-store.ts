import type { ChatTemplateMessage } from "@kvasir/llm";
import type { ListedItem } from "./responses-items.js";

/** A stored response: what `GET /v1/responses/{id}` returns, and its turn of the conversation. */
export interface StoredResponse {
  /** The response object as it was sent. */
  readonly response: Record<string, unknown>;
  /** This turn as chat messages: the request's input, then the response's output (without instructions). */
  readonly turn: readonly ChatTemplateMessage[];
  /** This request's input as listed items (`GET /v1/responses/{id}/input_items`). */
  readonly inputItems: readonly ListedItem[];
  /**
   * The response this one continued. Held by reference, so a conversation survives its earlier responses being
   * evicted, and each turn is stored once however long the chain.
   */
  readonly parent?: StoredResponse;
}

export interface ResponseStoreOptions {
  /** Most responses kept; the least recently used goes first. 0 keeps none. */
  maxEntries: number;
  /** Time a response is kept after it was stored. */
  ttlMs: number;
  now?: () => number;
}

/**
 * Responses kept in memory for `previous_response_id` and `GET /v1/responses/{id}`: bounded in number (LRU) and
 * in age (TTL). Per frontend process: with several processes a follow-up may reach one that never saw the
 * response, and gets a 400 naming it.
 */
export class ResponseStore {
  // A Map iterates in insertion order; a read re-inserts its key, so the first key is the least recently used.
  readonly #entries = new Map<string, { stored: StoredResponse; expiresAt: number }>();
  readonly #now: () => number;

  constructor(private readonly options: ResponseStoreOptions) {
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    return this.#entries.size;
  }

  put(id: string, stored: StoredResponse): void {
    if (this.options.maxEntries <= 0) return;
    this.#entries.delete(id);
    this.#entries.set(id, { stored, expiresAt: this.#now() + this.options.ttlMs });
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.options.maxEntries) break;
      this.#entries.delete(oldest);
    }
  }

  get(id: string): StoredResponse | undefined {
    const entry = this.#entries.get(id);
    if (!entry) return undefined;
    this.#entries.delete(id);
    if (entry.expiresAt <= this.#now()) return undefined;
    this.#entries.set(id, entry);
    return entry.stored;
  }

  delete(id: string): boolean {
    const entry = this.#entries.get(id);
    this.#entries.delete(id);
    return entry !== undefined && entry.expiresAt > this.#now();
  }
}

/** The whole conversation up to and including `stored`, oldest turn first. */
export function conversationOf(stored: StoredResponse | undefined): ChatTemplateMessage[] {
  const turns: (readonly ChatTemplateMessage[])[] = [];
  for (let at = stored; at; at = at.parent) turns.push(at.turn);
  return turns.reverse().flat();
}

/**
 * The items a response was generated from, oldest first: each earlier turn's input and output items, then its own
 * input (as `input_items` lists a continued conversation; instructions are no item).
 */
export function inputItemsOf(stored: StoredResponse): ListedItem[] {
  const earlier: StoredResponse[] = [];
  for (let at = stored.parent; at; at = at.parent) earlier.push(at);
  const items = earlier.reverse().flatMap((turn) => [...turn.inputItems, ...outputItems(turn.response)]);
  return [...items, ...stored.inputItems];
}

function outputItems(response: Record<string, unknown>): ListedItem[] {
  const { output } = response;
  if (!Array.isArray(output)) return [];
  return output.flatMap((item: unknown) => (isListed(item) ? [item] : []));
}

function isListed(item: unknown): item is ListedItem {
  return typeof item === "object" && item !== null && "id" in item && typeof item.id === "string";
}
