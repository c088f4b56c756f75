import type { ServedModel } from "./model-registry.js";
import type { Preprocessor } from "./preprocessor.js";

/** The models the app can serve; the pool-backed ModelRegistry in production. */
export interface ModelCatalog {
  resolve(id: string): ServedModel<Preprocessor> | undefined;
  list(): ServedModel<Preprocessor>[];
  /** Whether a model no worker serves now was served recently (then a request gets 503, not 404). */
  recentlyServed?(id: string): boolean;
}
